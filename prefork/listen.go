package prefork

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/internal/addr"
	"github.com/starlight-go/starlight/internal/logfile"
)

// listener is one bound socket, held by the master for its whole life.
//
// The master holds it as a bare descriptor that no poller watches. A Go
// listener or *os.File would register it with the runtime's epoll, and
// every incoming connection would then wake the master too, for nothing:
// with short connections that cost a tenth of a core.
type listener struct {
	fd      int         // the socket, close-on-exec
	network string      // tcp or unix
	addr    string      // as bound, for workers' messages
	url     string      // for people: http://127.0.0.1:5000/ or unix:/path
	path    string      // unix socket file to remove at exit; "" otherwise
	bound   os.FileInfo // path as bound: removed only while it is still this file
	tls     bool
	closed  bool
	// replacedStale: bind removed a stale socket file at path first.
	replacedStale bool
	// lanes are the sockets of a --reuse-port TCP listener, one per lane
	// (lanes[0] is fd), all bound to addr with SO_REUSEPORT; nil
	// otherwise. A worker accepts on the lanes the master gives it.
	lanes []int
}

// addresses lists what to bind, from -o/-p, -l, -S and --ipv6.
func (c *Config) addresses() ([]addr.Addr, error) {
	var out []addr.Addr
	for _, l := range c.Listen {
		a, err := addr.Parse(l)
		if err != nil {
			return nil, fmt.Errorf("--listen: %q: %w", l, err)
		}
		out = append(out, a)
	}
	if c.Socket != "" {
		a, err := addr.ParseUnix(c.Socket)
		if err != nil {
			return nil, fmt.Errorf("--socket: %q: %w", c.Socket, err)
		}
		out = append(out, a)
	}
	if len(c.Listen) == 0 && c.Socket == "" {
		host, err := addr.CleanHost(c.Host)
		if err != nil {
			return nil, fmt.Errorf("--host: %q: %w", c.Host, err)
		}
		if host == "" && c.IPv6 {
			host = "::"
		}
		out = append(out, addr.HostPort(host, c.Port))
	}
	return out, nil
}

// bind opens every listener, or none: on error it closes what it opened.
func bind(c *Config, owner int) ([]*listener, error) {
	addrs, err := c.addresses()
	if err != nil {
		return nil, err
	}
	var out []*listener
	fail := func(err error) ([]*listener, error) {
		closeListeners(out)
		return nil, err
	}
	for i, a := range addrs {
		var l *listener
		var err error
		if a.Kind == addr.TCP {
			l, err = bindTCP(a, c.IPv6, c.lanes())
		} else {
			l, err = bindUnix(a.String(), owner)
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			// Name the option: the address may not look like the one given.
			host := a.Host
			if i < len(c.Listen) {
				err = fmt.Errorf("--listen %s: cannot resolve %s: %s", a, host, dnsErr.Err)
			} else {
				err = fmt.Errorf("--host %s: cannot resolve the name: %s", host, dnsErr.Err)
			}
		}
		var oe *OptionError
		if errors.As(err, &oe) { // name the option
			opt := "--listen"
			if i >= len(c.Listen) {
				opt = "--socket"
			}
			err = refusef("%s: %v", opt, err)
		}
		if err != nil {
			return fail(err)
		}
		l.tls = c.SSL && l.network == "tcp" // unix sockets stay plain
		if l.tls {
			l.url = "https" + strings.TrimPrefix(l.url, "http")
		}
		out = append(out, l)
	}
	return out, nil
}

// lanes is how many sockets each TCP address gets: with --reuse-port, one
// per worker, else 0 (one socket, without SO_REUSEPORT; also with
// --max-workers 0, where one process serves).
func (c *Config) lanes() int {
	if !c.ReusePort {
		return 0
	}
	return c.Workers
}

// bindTCP binds addr; with lanes > 0 it binds that many sockets to it, each
// with SO_REUSEPORT.
func bindTCP(a addr.Addr, ipv6 bool, lanes int) (*listener, error) {
	host, port, addr := a.Host, strconv.Itoa(a.Port), a.String()
	network := "tcp"
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		network = "tcp6"
		if ipv6 && ip.IsUnspecified() {
			network = "tcp" // --ipv6: [::] takes IPv4 clients too, where the system allows
		}
	} else if ip != nil && !ipv6 {
		network = "tcp4"
	} else if host == "" && !ipv6 {
		network = "tcp" // all addresses, v4 and v6 where the system allows
	}
	var lc net.ListenConfig
	if lanes > 0 && port != "0" {
		// SO_REUSEPORT would let us share the port with a server already
		// there (of the same user) without a word: bind once without it
		// first, to refuse that as any bind would.
		probe, err := net.Listen(network, addr)
		if err != nil {
			return nil, bindError(addr, err)
		}
		probe.Close()
	}
	if lanes > 0 {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var err error
			if cerr := c.Control(func(fd uintptr) {
				err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
			}); cerr != nil {
				return cerr
			}
			return err
		}
	}
	fd, ta, err := listenHeld(&lc, network, addr)
	if err != nil {
		return nil, bindError(addr, err)
	}
	var fds []int
	if lanes > 0 {
		fds = append(fds, fd)
		// The other lanes bind the address the first one got (-p 0
		// picks a port once).
		for len(fds) < lanes {
			lfd, _, err := listenHeld(&lc, network, ta.String())
			if err != nil {
				for _, f := range fds {
					unix.Close(f)
				}
				return nil, fmt.Errorf("listen %s: socket %d of --reuse-port: %w", addr, len(fds)+1, unwrapOp(err))
			}
			fds = append(fds, lfd)
		}
	}
	shown := ta.String()
	if ta.IP.IsUnspecified() {
		shown = "0.0.0.0:" + strconv.Itoa(ta.Port)
		if ta.IP.To4() == nil && (network != "tcp" || ipv6) {
			shown = "[::]:" + strconv.Itoa(ta.Port)
		}
	}
	return &listener{fd: fd, lanes: fds, network: "tcp", addr: ta.String(), url: "http://" + shown + "/"}, nil
}

// listenHeld binds a TCP socket with lc and returns it as a descriptor for
// the master to hold (see holdSocket), with the address it got.
func listenHeld(lc *net.ListenConfig, network, addr string) (int, *net.TCPAddr, error) {
	ln, err := lc.Listen(context.Background(), network, addr)
	if err != nil {
		return -1, nil, err
	}
	ta := ln.Addr().(*net.TCPAddr)
	fd, err := holdSocket(ln.(*net.TCPListener))
	return fd, ta, err
}

func bindError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen %s: address already in use (another server runs there?)", addr)
	}
	return fmt.Errorf("listen %s: %w", addr, unwrapOp(err))
}

// bindUnix binds a unix socket; a stale socket file at path is replaced
// if it is root's or owner's (-1: this process's).
func bindUnix(path string, owner int) (*listener, error) {
	abstract := strings.HasPrefix(path, "@") || strings.HasPrefix(path, "\x00")
	name, replaced := path, false
	if abstract {
		name = "@" + path[1:] // Go spells the abstract namespace with @
	} else {
		var err error
		if replaced, err = clearStaleSocket(path, owner); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("unix", name)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen %s: address already in use", path)
		}
		return nil, fmt.Errorf("listen %s: %w", path, unwrapOp(err))
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the master removes the file itself, once
	fd, err := holdSocket(ul)
	if err != nil {
		if !abstract {
			os.Remove(path)
		}
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	l := &listener{fd: fd, network: "unix", addr: name, url: "unix:" + name, replacedStale: replaced}
	if !abstract {
		l.path = path
		l.bound, _ = os.Lstat(path)
	}
	return l, nil
}

// clearStaleSocket refuses a socket file a live server answers on and
// removes one nothing listens on, reporting whether it did.
func clearStaleSocket(path string, owner int) (bool, error) {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("listen %s: %w", path, err)
	}
	if st.Mode()&os.ModeSymlink != 0 {
		return false, refusef("%s: %v", path, logfile.ErrSymlink)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return false, refusef("%s: exists and is not a socket: not replaced", path)
	}
	if err := logfile.CheckOwner(st.Sys().(*syscall.Stat_t).Uid, owner); err != nil {
		return false, refusef("%s: %v", path, err)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, fmt.Errorf("listen %s: a server is already listening on this socket", path)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		// Nothing listens: stale.
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, os.ErrDeadlineExceeded):
		return false, fmt.Errorf("listen %s: a server is already listening on this socket (its queue is full)", path)
	case errors.Is(err, os.ErrNotExist):
		return false, nil // removed meanwhile
	default:
		return false, fmt.Errorf("listen %s: cannot tell whether a server listens on it: %w", path, unwrapOp(err))
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("listen %s: remove stale socket: %w", path, err)
	}
	return true, nil
}

// holdSocket takes the socket of ln for the master to hold: it returns a
// close-on-exec duplicate that no poller watches, and closes ln (which
// takes ln's descriptor out of the runtime's epoll).
func holdSocket(ln interface {
	syscall.Conn
	Close() error
}) (int, error) {
	defer ln.Close()
	rc, err := ln.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) {
		fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	return fd, dupErr
}

// file returns a new *os.File of the socket to hand to one child; the
// caller closes it once the child has started. It is made fresh each time
// because an *os.File of a non-blocking socket joins the runtime's epoll
// (see listener). The child's copy keeps the socket non-blocking: the
// mode belongs to the socket, shared by every process holding it, and a
// worker's accept must never block in the kernel where closing the
// listener cannot interrupt it. (A net.Listener's File method would switch
// it to blocking whenever its Fd method is called, as exec does.)
func (l *listener) file() (*os.File, error) {
	return l.fileOf(l.fd)
}

// laneFiles returns the listener's files for a worker given lanes: with
// --reuse-port, one per lane (a lane above the listener's lanes wraps);
// otherwise the one shared socket.
func (l *listener) laneFiles(lanes []int) ([]*os.File, error) {
	if len(l.lanes) == 0 {
		f, err := l.file()
		return []*os.File{f}, err
	}
	var out []*os.File
	for _, i := range lanes {
		f, err := l.fileOf(l.lanes[i%len(l.lanes)])
		if err != nil {
			for _, f := range out {
				f.Close()
			}
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

func (l *listener) fileOf(sock int) (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(sock), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", l.addr, err)
	}
	return os.NewFile(uintptr(fd), l.addr), nil
}

// closeListeners closes the master's hold on the sockets and removes the
// unix socket files. Closing twice is harmless.
func closeListeners(ls []*listener) {
	for _, l := range ls {
		if l.closed {
			continue
		}
		l.closed = true
		unix.Close(l.fd)
		if len(l.lanes) > 1 {
			for _, fd := range l.lanes[1:] { // lanes[0] is fd
				unix.Close(fd)
			}
		}
		if l.path != "" {
			// Not a file another server has put there since.
			if now, err := os.Lstat(l.path); err == nil && l.bound != nil && os.SameFile(now, l.bound) {
				os.Remove(l.path)
			}
		}
	}
}

// unwrapOp drops net.OpError's repetition of the address.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var sys *os.SyscallError
		if errors.As(op.Err, &sys) {
			return sys.Err
		}
		return op.Err
	}
	return err
}
