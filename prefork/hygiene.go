package prefork

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/starlight-go/starlight/internal/fdlimit"
	"golang.org/x/sys/unix"
)

// The files starlight writes (logs, pid file, unix sockets, the build
// directory) are written only where no one else could have put something
// of their choosing first: a symbolic link at the path is never followed,
// what is found there must be a file of the kind expected that belongs to
// root or to the user the app runs as, and it is handed to that user
// through a descriptor of what was checked, never by its path again.

// fileOwner is the user whose files, besides root's, starlight writes to
// and replaces: --user's, or -1 for this process's own.
func (m *Master) fileOwner() int {
	if m.id != nil && m.id.uid >= 0 {
		return m.id.uid
	}
	return -1
}

// refusef is a path starlight does not write to, as given: an
// *OptionError, the start ends with exit status 2, as for a bad option.
func refusef(format string, a ...any) error {
	return &OptionError{err: fmt.Errorf(format, a...)}
}

// setupHygiene comes first in setup: it keeps from the workers (and
// builds) what the launching process left open, raises the limit on open
// files, and warns about an app that would run as root. What it has to
// say waits for setupNotes, once the steps that may fail the start with
// one line are done.
func (m *Master) setupHygiene() error {
	if fds := closeOffInherited(); len(fds) > 0 {
		m.notes = append(m.notes, fmt.Sprintf("%s inherited from the launching process (%s) marked close-on-exec: workers do not get them",
			plural(len(fds), "descriptor"), fdList(fds)))
	}
	// The workers inherit the raised limit; a worker near it sheds the
	// connections that have not sent a request, so the limit says how
	// many idle or slow connections the pool holds at most.
	m.notes = append(m.notes, fdlimit.Raise().String())
	if os.Geteuid() == 0 && m.fileOwner() < 0 {
		m.notes = append(m.notes, "warning: starlight runs as root without --user: the app runs as root too, with every privilege")
	}
	return nil
}

// setupNotes logs what the start found to say (setupHygiene).
func (m *Master) setupNotes() error {
	for _, n := range m.notes {
		m.info("%s", n)
	}
	m.notes = nil
	return nil
}

// closeOffInherited marks close-on-exec every descriptor above stderr that
// is not: the ones systemd passed (LISTEN_FDS), and those Go opened,
// which are close-on-exec already. Workers and builds then get only the
// descriptors the master hands them. It returns the descriptors marked.
func closeOffInherited() []int {
	first, n := 3, 0
	if pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID")); pid == os.Getpid() {
		n, _ = strconv.Atoi(os.Getenv("LISTEN_FDS"))
	}
	var marked []int
	for _, fd := range openFDs() {
		if fd <= 2 || (fd >= first && fd < first+n) {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err == nil {
			marked = append(marked, fd)
		}
	}
	return marked
}

// openFDs lists this process's open descriptors, from /proc; without it,
// every number below the limit on open files is a candidate.
func openFDs() []int {
	var fds []int
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			if fd, err := strconv.Atoi(e.Name()); err == nil {
				fds = append(fds, fd)
			}
		}
		return fds
	}
	var rl unix.Rlimit
	limit := uint64(1024)
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur < 1<<16 {
		limit = rl.Cur
	}
	for fd := 0; uint64(fd) < limit; fd++ {
		fds = append(fds, fd)
	}
	return fds
}

func fdList(fds []int) string {
	s := make([]string, len(fds))
	for i, fd := range fds {
		s[i] = strconv.Itoa(fd)
	}
	return "fds " + strings.Join(s, ", ")
}

// handOverFiles gives the log files and the unix socket files the master
// made to the identity (--user, --group) before it switches: the logs stay
// writable, and reopenable on SIGUSR1, after the switch; unix sockets go
// to the user too, as gunicorn's do, so that a proxy running as that user
// (or group) can connect. Each through a descriptor: a log's own, and for
// a socket one that names the very file bound, never a symbolic link put
// in its place since.
func (m *Master) handOverFiles() error {
	if m.id == nil {
		return nil
	}
	for _, s := range []*sink{m.errw, m.accessw} {
		if s != nil && s.f != nil {
			m.id.chownFile(s.f)
		}
	}
	for _, l := range m.listeners {
		if l.path != "" {
			if err := m.id.chownSocket(l); err != nil {
				return err
			}
		}
	}
	return nil
}
