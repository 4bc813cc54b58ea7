package prefork

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/internal/proto"
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
	// lanes are the sockets of a --reuse-port TCP listener, one per lane
	// (lanes[0] is fd), all bound to addr with SO_REUSEPORT; nil
	// otherwise. A worker accepts on the lanes the master gives it.
	lanes []int
}

// addresses lists what to bind, from -o/-p, -l, -S and --ipv6.
func (c *Config) addresses() []string {
	var out []string
	out = append(out, c.Listen...)
	if c.Socket != "" {
		out = append(out, c.Socket)
	}
	if len(c.Listen) == 0 && c.Socket == "" {
		host := c.Host
		if host == "" && c.IPv6 {
			host = "::"
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(c.Port)))
	}
	return out
}

// splitTCPAddr checks the form of a TCP address to listen on.
func splitTCPAddr(addr string) (host, port string, err error) {
	if !strings.Contains(addr, ":") {
		return "", "", errors.New("want HOST:PORT, :PORT, [IPv6]:PORT, /path.sock or @abstract")
	}
	host, port, err = net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err) // the address is said already
		}
		return "", "", err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", "", fmt.Errorf("bad port %q (0-65535)", port)
	}
	return host, port, nil
}

// cleanHost checks the host of -o/--host or of a --listen address: an IP
// address, or a name that may resolve; "" is every address. The brackets
// of an IPv6 address ([::1]) are dropped.
func cleanHost(h string) (string, error) {
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	} else if strings.ContainsAny(h, "[]") {
		return "", errors.New("unbalanced brackets")
	}
	if h == "" {
		return "", nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return h, nil
	}
	if strings.Contains(h, ":") || strings.Trim(h, "0123456789.") == "" {
		return "", errors.New("not an IP address")
	}
	if len(strings.TrimSuffix(h, ".")) > 253 {
		return "", errors.New("not an IP address or host name (too long)")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return "", errors.New("not an IP address or host name")
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
				return "", errors.New("not an IP address or host name")
			}
		}
	}
	return h, nil
}

// sunPathMax is the room for a unix socket's name in struct sockaddr_un
// (sun_path): a path needs a NUL after it, an abstract name's leading NUL
// (the @) counts.
const sunPathMax = 108

// checkUnixPath checks that a unix socket address fits the kernel's limit,
// which bind would refuse with a bare "invalid argument".
func checkUnixPath(a string) error {
	if strings.HasPrefix(a, "@") || strings.HasPrefix(a, "\x00") {
		if len(a) > sunPathMax {
			return fmt.Errorf("abstract name too long (%d bytes after the @, at most %d)", len(a)-1, sunPathMax-1)
		}
		return nil
	}
	if len(a) >= sunPathMax {
		return fmt.Errorf("path too long (%d bytes, at most %d)", len(a), sunPathMax-1)
	}
	return nil
}

// addrKey spells an address to listen on one way, to tell one given twice
// (127.0.0.1:80 and 127.0.0.1:080, ./a.sock and a.sock). It returns "" for
// an address that two listeners may share: port 0 picks a new port each
// time.
func addrKey(a string) string {
	if proto.IsUnixAddr(a) {
		if strings.HasPrefix(a, "@") || strings.HasPrefix(a, "\x00") {
			return "abstract:" + a[1:]
		}
		if abs, err := filepath.Abs(a); err == nil {
			a = abs
		}
		return "unix:" + a
	}
	host, port, err := splitTCPAddr(a)
	if err != nil {
		return ""
	}
	n, _ := strconv.ParseUint(port, 10, 16)
	if n == 0 {
		return ""
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	} else {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
	}
	return "tcp:" + net.JoinHostPort(host, strconv.FormatUint(n, 10))
}

// bind opens every listener, or none: on error it closes what it opened.
func bind(c *Config) ([]*listener, error) {
	addrs := c.addresses()
	var out []*listener
	fail := func(err error) ([]*listener, error) {
		closeListeners(out)
		return nil, err
	}
	for i, a := range addrs {
		var l *listener
		var err error
		if proto.IsUnixAddr(a) {
			l, err = bindUnix(a)
		} else {
			l, err = bindTCP(a, c.IPv6, c.lanes())
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			// Name the option: the address may not look like the one given.
			host, _, _ := net.SplitHostPort(a)
			if i < len(c.Listen) {
				err = fmt.Errorf("--listen %s: cannot resolve %s: %s", a, host, dnsErr.Err)
			} else {
				err = fmt.Errorf("--host %s: cannot resolve the name: %s", host, dnsErr.Err)
			}
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
func bindTCP(addr string, ipv6 bool, lanes int) (*listener, error) {
	host, port, err := splitTCPAddr(addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", addr, err)
	}
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

func bindUnix(path string) (*listener, error) {
	abstract := strings.HasPrefix(path, "@") || strings.HasPrefix(path, "\x00")
	name := path
	if abstract {
		name = "@" + path[1:] // Go spells the abstract namespace with @
	} else {
		if err := clearStaleSocket(path); err != nil {
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
	l := &listener{fd: fd, network: "unix", addr: name, url: "unix:" + name}
	if !abstract {
		l.path = path
		l.bound, _ = os.Lstat(path)
	}
	return l, nil
}

// clearStaleSocket refuses a socket file a live server answers on and
// removes one nothing listens on.
func clearStaleSocket(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("listen %s: exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("listen %s: a server is already listening on this socket", path)
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		// Nothing listens: stale.
	case errors.Is(err, syscall.EAGAIN), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("listen %s: a server is already listening on this socket (its queue is full)", path)
	case errors.Is(err, os.ErrNotExist):
		return nil // removed meanwhile
	default:
		return fmt.Errorf("listen %s: cannot tell whether a server listens on it: %w", path, unwrapOp(err))
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("listen %s: remove stale socket: %w", path, err)
	}
	staleRemoved = append(staleRemoved, path)
	return nil
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

// staleRemoved lists stale socket files bind removed, to report them.
var staleRemoved []string

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
