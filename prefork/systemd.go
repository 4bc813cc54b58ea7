package prefork

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// systemdListeners returns the sockets systemd passed (socket activation),
// or nil when LISTEN_PID/LISTEN_FDS do not name this process.
func systemdListeners(tls bool) ([]*listener, error) {
	pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID"))
	n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	if pid != os.Getpid() || n <= 0 {
		return nil, nil
	}
	os.Unsetenv("LISTEN_PID")
	os.Unsetenv("LISTEN_FDS")
	os.Unsetenv("LISTEN_FDNAMES")
	var out []*listener
	for fd := 3; fd < 3+n; fd++ {
		unix.CloseOnExec(fd)
		l, err := inheritedListener(fd, tls)
		if err != nil {
			unix.Close(fd)
			closeListeners(out)
			return nil, fmt.Errorf("socket activation: fd %d: %w", fd, err)
		}
		out = append(out, l)
	}
	return out, nil
}

// inheritedListener describes a listening socket passed by systemd. The
// master holds the bare descriptor (see listener).
func inheritedListener(fd int, tls bool) (*listener, error) {
	if typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err != nil {
		return nil, err
	} else if typ != unix.SOCK_STREAM {
		return nil, fmt.Errorf("not a stream socket")
	}
	if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on == 0 {
		return nil, fmt.Errorf("not a listening socket")
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	l := &listener{fd: fd}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		l.network, l.addr = "tcp", net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrInet6:
		l.network, l.addr = "tcp", net.JoinHostPort(net.IP(a.Addr[:]).String(), strconv.Itoa(a.Port))
	case *unix.SockaddrUnix:
		// x/sys spells an abstract name with a leading @, as Go does.
		l.network, l.addr, l.url = "unix", a.Name, "unix:"+a.Name
		return l, nil
	default:
		return nil, fmt.Errorf("not a TCP or unix socket")
	}
	l.tls = tls
	scheme := "http"
	if tls {
		scheme = "https"
	}
	l.url = scheme + "://" + l.addr + "/"
	return l, nil
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, for RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}
