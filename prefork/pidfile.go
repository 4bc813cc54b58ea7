package prefork

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// writePidFile writes pid to path atomically and exclusively: the file
// appears whole or not at all, and an existing one of a running process
// is refused. A stale one (its process gone) is replaced.
func writePidFile(path string, pid int) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("--pid: %s is a directory", path) // never removed as stale
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".starlight-pid-*")
	if err != nil {
		// Name the path given, not the temporary file next to it.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("--pid: %s: cannot create a file in %s: %w", path, dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d\n", pid); err != nil {
		tmp.Close()
		return pidFileError(path, err)
	}
	if err := tmp.Close(); err != nil {
		return pidFileError(path, err)
	}
	os.Chmod(tmp.Name(), 0o644)
	for attempt := 0; attempt < 2; attempt++ {
		err := os.Link(tmp.Name(), path) // fails if path exists: exclusive
		if err == nil {
			return nil
		}
		if !errors.Is(err, os.ErrExist) {
			return pidFileError(path, err)
		}
		other, alive := pidFileOwner(path)
		if alive {
			return fmt.Errorf("--pid: %s belongs to running process %d (another starlight?)", path, other)
		}
		if !holdsPid(path) {
			return fmt.Errorf("--pid: %s exists and is not a pid file: not replaced", path)
		}
		os.Remove(path) // stale
	}
	return fmt.Errorf("--pid: %s: could not replace the stale file", path)
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

// removePidFile removes the pid file if it is still ours.
func removePidFile(path string, pid int) {
	if other, _ := pidFileOwner(path); other == pid {
		os.Remove(path)
	}
}
