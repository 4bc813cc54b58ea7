// Package logfile opens the log files the master and a standalone server
// write to (--error-log, --access-log), at start and on SIGUSR1.
package logfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// ErrNoReader is a named pipe nothing reads.
var ErrNoReader = errors.New("a named pipe that nothing reads")

// Open opens path for appending, creating it, close-on-exec. A named pipe
// with no reader is refused at once (ErrNoReader): opening it would wait
// for a reader, with the process deaf to signals meanwhile.
func Open(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o644)
	if err == unix.ENXIO {
		err = ErrNoReader
	}
	if err == nil {
		if err = unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
