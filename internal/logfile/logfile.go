// Package logfile opens the log files the master and a standalone server
// write to (--error-log, --access-log), at start and on SIGUSR1, and says
// whether a file found at a path starlight writes is one it may use.
package logfile

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// Why a log path is refused. Each is the Err of an *os.PathError naming
// the path.
var (
	// ErrNoReader is a named pipe nothing reads.
	ErrNoReader = errors.New("a named pipe that nothing reads")
	// ErrSymlink is a symbolic link at the path: never followed, since
	// whoever may write the directory could point it at any file.
	ErrSymlink = errors.New("a symbolic link: not followed")
	// ErrHardLinked is a file with links elsewhere: it may be another
	// file of root's, linked into the log's directory.
	ErrHardLinked = errors.New("a file with other hard links: not written")
)

// Open opens path for appending, creating it, close-on-exec, without
// following a symbolic link at path itself (ErrSymlink). What it finds
// there must be a regular file with no other link, a named pipe, or a
// character device (/dev/null), and belong to root or to user (-1: this
// process's user); anything else is closed again and refused. A named
// pipe with no reader is refused at once (ErrNoReader): opening it would
// wait for a reader, with the process deaf to signals meanwhile.
//
// The file is opened before it is looked at, so that what is looked at is
// what is written to; opening with O_NOCTTY and without waiting has no
// effect of its own on what it may be.
func Open(path string, user int) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_NOCTTY, 0o644)
	switch {
	case err == unix.ENXIO:
		err = ErrNoReader
	case err == unix.ELOOP && isSymlink(path): // not a loop further up the path
		err = ErrSymlink
	case err == nil:
		err = Check(fd, user, false)
		if err == nil {
			err = unix.SetNonblock(fd, false)
		}
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// Check says whether the file open on fd is one starlight may write to
// for user (-1: this process's user): a regular file with no other link,
// a named pipe, a character device, or (socket) a unix socket; belonging
// to root or to user.
func Check(fd, user int, socket bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		if st.Nlink > 1 {
			return ErrHardLinked
		}
	case unix.S_IFIFO, unix.S_IFCHR:
		if socket {
			return errors.New("not a socket")
		}
	case unix.S_IFSOCK:
		if !socket {
			return errors.New("a socket, not a file")
		}
	case unix.S_IFDIR:
		return errors.New("a directory")
	case unix.S_IFLNK:
		return ErrSymlink
	default:
		return errors.New("not a regular file")
	}
	return CheckOwner(st.Uid, user)
}

// CheckOwner says whether a file of uid may be written for user (-1: this
// process's user): root's and user's may.
func CheckOwner(uid uint32, user int) error {
	if user < 0 {
		user = os.Geteuid()
	}
	if uid == 0 || int(uid) == user {
		return nil
	}
	if user == 0 {
		return fmt.Errorf("belongs to %s, not root: not written", userName(int(uid)))
	}
	return fmt.Errorf("belongs to %s, neither root nor %s: not written", userName(int(uid)), userName(user))
}

// userName names uid for messages: "alice (uid 1000)".
func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username + " (uid " + strconv.Itoa(uid) + ")"
	}
	return "uid " + strconv.Itoa(uid)
}

func isSymlink(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}
