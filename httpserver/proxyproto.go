package httpserver

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
)

// The PROXY protocol (--proxy-protocol): a load balancer that passes TCP
// through (HAProxy, an AWS NLB, ...) writes, before anything else on the
// connection, a line (v1) or a binary block (v2) naming the client. It is
// read before TLS and before the HTTP scanner, and believed only from the
// peers --forwarded-allow-ips names: from anyone else, a connection that
// starts with such a header is refused (closed), since a client could
// name any address. A connection without one is served as it is.

// proxyListener reads the PROXY header of each connection it accepts.
type proxyListener struct {
	net.Listener
	s *server
}

func (l proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyConn{Conn: c, s: l.s}, nil
}

// proxyConn reads the header at its first Read or RemoteAddr, in the
// connection's own goroutine (net/http asks for RemoteAddr there first),
// never in the accept loop. The sweep's --timeout bounds the wait.
type proxyConn struct {
	net.Conn
	s    *server
	once sync.Once
	rest []byte   // read past the header: the connection's first bytes
	src  net.Addr // the client, from the header; nil: the peer
	err  error    // refused, or the read failed
}

// v2sig starts a PROXY protocol v2 header.
var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

const v1max = 107 // the longest v1 line, CRLF included

func (c *proxyConn) init() {
	c.once.Do(func() { c.err = c.readHeader() })
}

func (c *proxyConn) RemoteAddr() net.Addr {
	c.init()
	if c.src != nil {
		return c.src
	}
	return c.Conn.RemoteAddr()
}

func (c *proxyConn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// errProxyRefused fails the reads of a connection whose PROXY header was
// refused: net/http closes it without a word.
var errProxyRefused = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("PROXY protocol header refused")}

// readHeader reads what starts the connection, and the header if there
// is one.
func (c *proxyConn) readHeader() error {
	buf := make([]byte, 0, 536)
	v1 := []byte("PROXY ")
	for {
		if len(buf) > 0 {
			may1 := bytes.HasPrefix(v1, buf[:min(len(buf), len(v1))])
			may2 := bytes.HasPrefix(v2sig, buf[:min(len(buf), len(v2sig))])
			if !may1 && !may2 {
				c.rest = buf
				return nil // no header: served as it is
			}
			if may1 && len(buf) >= len(v1) && bytes.IndexByte(buf, '\n') >= 0 {
				break
			}
			if may2 && len(buf) >= 16 {
				n := 16 + int(binary.BigEndian.Uint16(buf[14:16]))
				if len(buf) >= n {
					break
				}
				if n > cap(buf) {
					buf = append(make([]byte, 0, n), buf...) // TLVs
				}
			}
			if may1 && len(buf) >= v1max {
				return c.refuse("v1: no CRLF in 107 bytes")
			}
		}
		n, err := c.Conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil && n == 0 {
			return err
		}
	}
	host := ""
	if ta, ok := c.Conn.RemoteAddr().(*net.TCPAddr); ok {
		host = ta.IP.String()
	}
	if !c.s.trust.trusts(host) {
		return c.refuse("from an untrusted peer (see --forwarded-allow-ips)")
	}
	var n int
	var err error
	if bytes.HasPrefix(buf, v1) {
		n, err = c.parseV1(buf)
	} else {
		n, err = c.parseV2(buf)
	}
	if err != nil {
		return c.refuse(err.Error())
	}
	c.rest = buf[n:]
	return nil
}

func (c *proxyConn) refuse(why string) error {
	c.s.logger.Printf("starlight: PROXY protocol header refused %s (from %s)", why, displayPeer(c.Conn.RemoteAddr()))
	c.Conn.Close()
	return errProxyRefused
}

func displayPeer(a net.Addr) string {
	if a == nil || a.String() == "" || a.String() == "@" {
		return "unix"
	}
	return a.String()
}

// parseV1 reads "PROXY TCP4 SRC DST SPORT DPORT\r\n" (or TCP6, or
// UNKNOWN ...) and returns its length.
func (c *proxyConn) parseV1(buf []byte) (int, error) {
	end := bytes.Index(buf, []byte("\r\n"))
	if end < 0 {
		return 0, errors.New("v1: no CRLF")
	}
	f := strings.Fields(string(buf[:end]))
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return end + 2, nil // the peer's own address stands
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return 0, fmt.Errorf("v1: malformed %q", buf[:end])
	}
	ip, err := netip.ParseAddr(f[2])
	port, perr := strconv.ParseUint(f[4], 10, 16)
	if err != nil || perr != nil || ip.Is4() != (f[1] == "TCP4") {
		return 0, fmt.Errorf("v1: malformed %q", buf[:end])
	}
	c.src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
	return end + 2, nil
}

// parseV2 reads the binary header and returns its length.
func (c *proxyConn) parseV2(buf []byte) (int, error) {
	verCmd, fam := buf[12], buf[13]
	n := 16 + int(binary.BigEndian.Uint16(buf[14:16]))
	if verCmd>>4 != 2 {
		return 0, fmt.Errorf("v2: version %d", verCmd>>4)
	}
	switch verCmd & 0xf {
	case 0: // LOCAL: the proxy's own connection (a health check)
		return n, nil
	case 1: // PROXY
	default:
		return 0, fmt.Errorf("v2: command %d", verCmd&0xf)
	}
	a := buf[16:n]
	switch fam >> 4 {
	case 1: // IPv4: src, dst, sport, dport
		if len(a) < 12 {
			return 0, errors.New("v2: short IPv4 addresses")
		}
		ip := netip.AddrFrom4([4]byte(a[0:4]))
		c.src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(a[8:10])))
	case 2: // IPv6
		if len(a) < 36 {
			return 0, errors.New("v2: short IPv6 addresses")
		}
		ip := netip.AddrFrom16([16]byte(a[0:16]))
		c.src = net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(a[32:34])))
	default: // UNSPEC, unix: the peer's own address stands
	}
	return n, nil
}
