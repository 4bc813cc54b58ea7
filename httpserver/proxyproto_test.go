package httpserver

import (
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// trickleConn is a connection whose reads return one byte at a time from
// data, as from a peer that writes slowly.
type trickleConn struct {
	net.Conn
	data []byte
	peer net.Addr
}

func (c *trickleConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	p[0] = c.data[0]
	c.data = c.data[1:]
	return 1, nil
}
func (c *trickleConn) RemoteAddr() net.Addr            { return c.peer }
func (c *trickleConn) Close() error                    { return nil }
func (c *trickleConn) SetReadDeadline(time.Time) error { return nil }

func TestProxyHeaderParsing(t *testing.T) {
	s := newServer(hello, settings{})
	s.logger.SetOutput(io.Discard)
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	v2 := func(tlvs int) []byte {
		b := append([]byte(nil), v2sig...)
		b = append(b, 0x21, 0x11)
		b = binary.BigEndian.AppendUint16(b, uint16(12+tlvs))
		b = append(b, 192, 0, 2, 1, 127, 0, 0, 1, 0x1f, 0x90, 0x13, 0x88)
		for range tlvs {
			b = append(b, 0)
		}
		return b
	}
	for _, tc := range []struct {
		name, data, client, rest string
		refused                  bool
	}{
		{"v1", "PROXY TCP4 192.0.2.1 127.0.0.1 8080 5000\r\nGET / HTTP/1.1\r\n", "192.0.2.1:8080", "GET / HTTP/1.1\r\n", false},
		{"v1 IPv6", "PROXY TCP6 2001:db8::1 ::1 8080 5000\r\nGET", "[2001:db8::1]:8080", "GET", false},
		{"v1 UNKNOWN", "PROXY UNKNOWN\r\nGET", "127.0.0.1:40000", "GET", false},
		{"v1 malformed", "PROXY TCP4 nope 127.0.0.1 1 2\r\nGET", "", "", true},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::1 ::1 1 2\r\nGET", "", "", true},
		{"v2", string(v2(0)) + "GET", "192.0.2.1:8080", "GET", false},
		{"v2 with 700 bytes of TLVs", string(v2(700)) + "GET", "192.0.2.1:8080", "GET", false},
		{"no header", "GET / HTTP/1.1\r\n", "127.0.0.1:40000", "GET / HTTP/1.1\r\n", false},
		{"starts like one", "PROX", "127.0.0.1:40000", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &proxyConn{Conn: &trickleConn{data: []byte(tc.data), peer: local}, s: s}
			got := c.RemoteAddr().String()
			rest, err := io.ReadAll(c)
			if tc.refused {
				if err == nil && got != "127.0.0.1:40000" {
					t.Fatalf("accepted: client %s", got)
				}
				if err == nil && len(rest) > 0 {
					t.Fatalf("served %q", rest)
				}
				return
			}
			if err != nil || got != tc.client || string(rest) != tc.rest {
				t.Fatalf("client %s rest %q %v; want %s %q", got, rest, err, tc.client, tc.rest)
			}
		})
	}
	// From an untrusted peer, a header is refused; plain bytes pass.
	far := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 99), Port: 1}
	c := &proxyConn{Conn: &trickleConn{data: []byte("PROXY TCP4 192.0.2.1 127.0.0.1 1 2\r\nGET"), peer: far}, s: s}
	if b, err := io.ReadAll(c); err == nil || len(b) > 0 {
		t.Fatalf("a header from an untrusted peer: %q %v", b, err)
	}
	c = &proxyConn{Conn: &trickleConn{data: []byte("GET / HTTP/1.1\r\n"), peer: far}, s: s}
	if b, err := io.ReadAll(c); err != nil || string(b) != "GET / HTTP/1.1\r\n" {
		t.Fatalf("no header from an untrusted peer: %q %v", b, err)
	}
}

func TestForwardedClient(t *testing.T) {
	tr := newTrust([]string{"127.0.0.1", "10.0.0.0/8", "unix"}, false)
	for _, tc := range []struct{ remote, xff, fwd, want string }{
		{"127.0.0.1:1", "1.2.3.4", "", "1.2.3.4"},
		{"127.0.0.1:1", "6.6.6.6, 1.2.3.4, 10.1.1.1", "", "1.2.3.4"}, // the last untrusted hop
		{"127.0.0.1:1", "10.1.1.1, 10.2.2.2", "", "10.1.1.1"},
		{"127.0.0.1:1", "garbage", "", "127.0.0.1"},
		{"192.0.2.5:1", "1.2.3.4", "", "192.0.2.5"},
		{"@", "1.2.3.4", "", "1.2.3.4"},
		{"127.0.0.1:1", "", `for="[2001:db8::1]:80";proto=https`, "2001:db8::1"},
		{"[::ffff:127.0.0.1]:1", "1.2.3.4", "", "1.2.3.4"},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if tc.fwd != "" {
			r.Header.Set("Forwarded", tc.fwd)
		}
		if got, _ := tr.client(r); got != tc.want {
			t.Errorf("%s XFF %q Forwarded %q: %s, want %s", tc.remote, tc.xff, tc.fwd, got, tc.want)
		}
	}
}
