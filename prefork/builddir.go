package prefork

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// buildDirPrefix names the build directories under $TMPDIR.
const buildDirPrefix = "starlight-build-"

// buildLockName is the file in a build directory that its master holds
// locked (flock) for as long as it runs.
const buildLockName = ".lock"

// makeBuildDir creates a build directory and locks it for this process's
// life; the lock is released when lock is closed, or the process dies. On
// a file system without flock, lock is nil: the directory is not locked,
// and no sweep removes it.
func makeBuildDir() (dir string, lock *os.File, err error) {
	dir, err = os.MkdirTemp("", buildDirPrefix)
	if err != nil {
		return "", nil, err
	}
	// Lock a file under another name, then give it the name a sweep looks
	// for: a sweep never finds the lock file unlocked.
	tmp := filepath.Join(dir, buildLockName+".new")
	lock, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.ENOLCK) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		lock.Close()
		os.Remove(tmp)
		return dir, nil, nil
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, buildLockName))
	}
	if err != nil {
		lock.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, lock, nil
}

// sweepBuildDirs removes the build directories of masters that died
// without cleaning up (SIGKILL, a crash): those whose lock file nobody
// holds. A directory without one, or that this user may not remove, is
// left alone. It returns how many it removed.
func sweepBuildDirs() int {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	n := 0
	for _, d := range dirs {
		// A directory, not a link someone put there.
		var st unix.Stat_t
		if unix.Lstat(d, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		f, err := os.OpenFile(filepath.Join(d, buildLockName), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil &&
			unix.Fstat(int(f.Fd()), &st) == nil && st.Nlink > 0 { // not removed by its master meanwhile
			if os.RemoveAll(d) == nil {
				n++
			}
		}
		f.Close()
	}
	return n
}

// buildDirError wraps an error about the build directory.
func buildDirError(err error) error { return fmt.Errorf("build directory: %w", err) }
