package prefork

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

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
		f := os.NewFile(uintptr(fd), "systemd-socket-"+strconv.Itoa(fd))
		ln, err := net.FileListener(f)
		if err != nil {
			closeListeners(out)
			return nil, fmt.Errorf("socket activation: fd %d: %w", fd, err)
		}
		l := &listener{ln: ln, file: f}
		switch a := ln.Addr().(type) {
		case *net.TCPAddr:
			l.network, l.addr, l.tls = "tcp", a.String(), tls
			scheme := "http"
			if tls {
				scheme = "https"
			}
			l.url = scheme + "://" + a.String() + "/"
		case *net.UnixAddr:
			l.network, l.addr, l.url = "unix", a.Name, "unix:"+a.Name
		default:
			ln.Close()
			closeListeners(out)
			return nil, fmt.Errorf("socket activation: fd %d is not a stream socket", fd)
		}
		out = append(out, l)
	}
	return out, nil
}

// sdNotify sends a state to systemd's notify socket, if there is one.
func sdNotify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(state))
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, for RELOADING=1.
func monotonicUsec() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano() / 1000
}
