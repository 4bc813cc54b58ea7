// Package addr parses the addresses starlight listens on, once, into a
// typed value: a TCP host and port, a unix socket path, or an abstract
// unix socket name. The master validates options with it and binds what it
// parsed; an app run by hand reads its -l with it too.
package addr

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
)

// Kind is the kind of an address.
type Kind uint8

const (
	TCP      Kind = iota // host:port
	Unix                 // a socket file
	Abstract             // a name in Linux's abstract socket namespace (@name)
)

// Addr is one address to listen on.
type Addr struct {
	Kind Kind
	Host string // TCP: an IP address or a host name, without brackets; "" = every address
	Port int    // TCP: 0 picks a free port
	Path string // Unix: the file; Abstract: the name, without the @
}

// IsUnix tells a unix socket from a TCP address in a --listen value:
// /path, ./path, name.sock, @abstract (or its \x00 form).
func IsUnix(s string) bool {
	return strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "@") || strings.HasPrefix(s, "\x00") || strings.HasSuffix(s, ".sock")
}

// SunPathMax is the room for a unix socket's name in struct sockaddr_un
// (sun_path): a path needs a NUL after it, an abstract name's leading NUL
// (the @) counts.
const SunPathMax = 108

// Parse reads a --listen value: HOST:PORT, :PORT, [IPv6]:PORT, /path.sock,
// ./path, name.sock or @abstract. The error says what is wrong, not the
// address (the caller names the option and the value).
func Parse(s string) (Addr, error) {
	if s == "" {
		return Addr{}, errors.New("empty address")
	}
	if IsUnix(s) {
		return ParseUnix(s)
	}
	if !strings.Contains(s, ":") {
		return Addr{}, errors.New("want HOST:PORT, :PORT, [IPv6]:PORT, /path.sock or @abstract")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err) // the caller says the address
		}
		return Addr{}, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return Addr{}, fmt.Errorf("bad port %q (0-65535)", port)
	}
	h, err := CleanHost(host)
	if err != nil {
		return Addr{}, fmt.Errorf("bad host %q: %v", host, err)
	}
	return Addr{Kind: TCP, Host: h, Port: int(n)}, nil
}

// ParseUnix reads a unix socket address (-S/--socket, or a --listen value
// IsUnix takes for one): a path, or @name in the abstract namespace. It
// checks that it fits the kernel's limit, which bind would refuse with a
// bare "invalid argument".
func ParseUnix(s string) (Addr, error) {
	if s == "" {
		return Addr{}, errors.New("empty path")
	}
	if strings.HasPrefix(s, "@") || strings.HasPrefix(s, "\x00") {
		if len(s) > SunPathMax {
			return Addr{}, fmt.Errorf("abstract name too long (%d bytes after the @, at most %d)", len(s)-1, SunPathMax-1)
		}
		return Addr{Kind: Abstract, Path: s[1:]}, nil
	}
	if len(s) >= SunPathMax {
		return Addr{}, fmt.Errorf("path too long (%d bytes, at most %d)", len(s), SunPathMax-1)
	}
	return Addr{Kind: Unix, Path: s}, nil
}

// HostPort is the TCP address of -o/--host and -p/--port; host has been
// through CleanHost.
func HostPort(host string, port int) Addr { return Addr{Kind: TCP, Host: host, Port: port} }

// CleanHost checks the host of -o/--host or of a --listen address: an IP
// address, or a name that may resolve; "" is every address. The brackets
// of an IPv6 address ([::1]) are dropped.
func CleanHost(h string) (string, error) {
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

// String spells the address for net.Listen and for messages: host:port
// (IPv6 in brackets), the path, or @name.
func (a Addr) String() string {
	switch a.Kind {
	case Unix:
		return a.Path
	case Abstract:
		return "@" + a.Path
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// Key spells the address one way, to tell one given twice (127.0.0.1:80
// and 127.0.0.1:080, ./a.sock and a.sock). It is "" for an address that
// two listeners may share: port 0 picks a new port each time.
func (a Addr) Key() string {
	switch a.Kind {
	case Abstract:
		return "abstract:" + a.Path
	case Unix:
		p := a.Path
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		return "unix:" + p
	}
	if a.Port == 0 {
		return ""
	}
	host := a.Host
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	} else {
		host = strings.ToLower(strings.TrimSuffix(host, "."))
	}
	return "tcp:" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}
