package prefork

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/internal/logfile"
)

// writePidFile writes pid to path atomically and exclusively: the file
// appears whole or not at all, and an existing one of a running starlight
// is refused. A stale one (its process gone, or its pid now another
// process's) is replaced.
//
// The file is locked (flock) from before it appears, and stays locked as
// long as the returned file is open: the caller keeps it for its life.
// That lock tells a running starlight from a process that took the pid of
// one gone (after a reboot, say). Where the file system has no locks, a
// live pid is taken for a starlight.
//
// The file is made 0644 less the umask (--umask). A symbolic link at path,
// or a file there of a user other than root and the one files are handed
// to (owner; -1 for this process's), is refused: never followed, never
// replaced. replaced says which stale file it replaced, if it did.
func writePidFile(path string, pid, owner int) (lock *os.File, replaced string, err error) {
	if err := checkPidFile(path, owner); err != nil {
		return nil, "", err
	}
	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, ".starlight-pid-", 0o644)
	if err != nil {
		// Name the path given, not the temporary file next to it.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, "", fmt.Errorf("--pid: %s: cannot create a file in %s: %w", path, dir, err)
	}
	defer os.Remove(tmp.Name())
	fail := func(err error) (*os.File, string, error) {
		tmp.Close()
		return nil, "", err
	}
	flockNB(tmp, unix.LOCK_EX) //nolint:errcheck // no locks here: the pid alone says
	if _, err := fmt.Fprintf(tmp, "%d\n", pid); err != nil {
		return fail(pidFileError(path, err))
	}
	for attempt := 0; attempt < 2; attempt++ {
		err := os.Link(tmp.Name(), path) // fails if path exists: exclusive
		if err == nil {
			return tmp, replaced, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return fail(pidFileError(path, err))
		}
		if err := checkPidFile(path, owner); err != nil { // put there meanwhile
			return fail(err)
		}
		if !holdsPid(path) {
			return fail(refusef("--pid: %s exists and is not a pid file: not replaced", path))
		}
		other, alive := pidFileOwner(path)
		if !removeStalePidFile(path, alive) {
			other, _ := pidFileOwner(path) // it may be a starlight's that just came
			return fail(fmt.Errorf("--pid: %s belongs to running process %d (another starlight?)", path, other))
		}
		switch {
		case other == 0:
			replaced = fmt.Sprintf("replaced the empty pid file %s", path)
		case alive:
			replaced = fmt.Sprintf("replaced the stale pid file %s: process %d holds no lock on it, so it is no starlight", path, other)
		default:
			replaced = fmt.Sprintf("replaced the stale pid file %s: process %d is gone", path, other)
		}
	}
	return fail(fmt.Errorf("--pid: %s: could not replace the stale file", path))
}

// checkPidFile refuses what is at path, if anything, that writePidFile
// must not replace: a symbolic link, a directory, another user's file.
func checkPidFile(path string, owner int) error {
	st, err := os.Lstat(path)
	switch {
	case err != nil:
		return nil // nothing there, or the link reports it
	case st.Mode()&os.ModeSymlink != 0:
		return refusef("--pid: %s: %v", path, logfile.ErrSymlink)
	case st.IsDir():
		return refusef("--pid: %s is a directory", path) // never removed as stale
	}
	if err := logfile.CheckOwner(st.Sys().(*syscall.Stat_t).Uid, owner); err != nil {
		return refusef("--pid: %s %v", path, strings.Replace(err.Error(), "not written", "not replaced", 1))
	}
	return nil
}

// createTemp creates a new file in dir, its name prefix and a random
// part, with mode perm less the umask; close-on-exec.
func createTemp(dir, prefix string, perm os.FileMode) (*os.File, error) {
	for {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
		if !errors.Is(err, os.ErrExist) {
			return f, err
		}
	}
}

// removeStalePidFile removes the pid file at path unless a starlight holds
// it: it reports false if the file is locked by someone else, or if its
// process is alive and the lock cannot tell (no locks on this file system,
// or the file cannot be opened). A live process holding no lock on it
// took the pid of one gone. The file is removed under its lock, and only
// if path still names the file locked, so that a pid file another
// starlight has just put there (two starting at once) stays.
func removeStalePidFile(path string, alive bool) bool {
	f, err := os.Open(path)
	if err != nil {
		return !alive // gone already, or unreadable: link reports it
	}
	defer f.Close()
	if err := flockNB(f, unix.LOCK_EX); err != nil && (alive || errors.Is(err, unix.EWOULDBLOCK)) {
		return false
	}
	held, err1 := f.Stat()
	now, err2 := os.Stat(path)
	if err1 == nil && err2 == nil && os.SameFile(held, now) {
		os.Remove(path)
	}
	return true
}

// flockNB takes a lock on f without waiting.
func flockNB(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err != unix.EINTR {
			return err
		}
	}
}

// pidFileError names the pid file, not the temporary file beside it that
// the failed call named.
func pidFileError(path string, err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	return fmt.Errorf("--pid: %s: %w", path, err)
}

// holdsPid says whether path is a regular file holding a pid, or
// nothing: a stale pid file that may be replaced, not some other file
// given by mistake.
func holdsPid(path string) bool {
	st, err := os.Lstat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > 64 {
		return false
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return true
	}
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}

// pidFileOwner reads a pid file and says whether its process runs.
func pidFileOwner(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	err = syscall.Kill(pid, 0)
	return pid, err == nil || errors.Is(err, syscall.EPERM)
}

// removePidFile removes the pid file if it is still ours: the file held
// (see writePidFile), not one another starlight has put there since. The
// file is told by what it is, not by the pid in it, which the user the
// master switched to may not read (--umask 077 makes it root's alone).
func removePidFile(path string, held *os.File) {
	now, err1 := os.Lstat(path)
	mine, err2 := held.Stat()
	if err1 == nil && err2 == nil && os.SameFile(now, mine) {
		os.Remove(path)
	}
}
