package e2e

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// rawGet sends one GET of /client on a new connection from local (nil:
// any) to network/addr, after prefix (a PROXY header, or nothing), with
// extra header lines, and returns the body, or "" and the error when the
// connection was closed without an answer.
func rawGet(t *testing.T, network, addr string, local net.Addr, prefix []byte, headers ...string) (string, int, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: local, Timeout: 5 * time.Second}
	c, err := d.Dial(network, addr)
	if err != nil {
		t.Fatalf("dial %s %s from %v: %v", network, addr, local, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /client HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	c.Write(append(prefix, req+"\r\n"...))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

var from127002 = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}

// field returns the value of name=... in a /client answer.
func field(body, name string) string {
	m := regexp.MustCompile(`\b` + name + `=(\S+)`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// X-Forwarded-For and X-Forwarded-Proto are believed from 127.0.0.1 (the
// default --forwarded-allow-ips) and ignored from 127.0.0.2 and from a
// client on a unix socket: httpserver.ClientIP, Scheme and the access log
// say so; r.RemoteAddr stays the peer.
func TestForwardedHeaders(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	access := filepath.Join(dir, "access.log")
	s := startWS(t, 1, nil, "-l", sock, "--access-log", access)
	xff := []string{"X-Forwarded-For: 198.51.100.1, 203.0.113.9", "X-Forwarded-Proto: https"}

	body, _, err := rawGet(t, "tcp", s.addr, nil, nil, xff...)
	if err != nil {
		t.Fatal(err)
	}
	if field(body, "client") != "203.0.113.9" || field(body, "scheme") != "https" || !strings.HasPrefix(field(body, "remote"), "127.0.0.1:") {
		t.Fatalf("from 127.0.0.1: %q, want client 203.0.113.9, scheme https, the peer as RemoteAddr", body)
	}
	body, _, err = rawGet(t, "tcp", s.addr, from127002, nil, xff...)
	if err != nil {
		t.Fatal(err)
	}
	if field(body, "client") != "127.0.0.2" || field(body, "scheme") != "http" {
		t.Fatalf("from the untrusted 127.0.0.2: %q, want client 127.0.0.2, scheme http", body)
	}
	body, _, err = rawGet(t, "unix", sock, nil, nil, xff...)
	if err != nil {
		t.Fatal(err)
	}
	if field(body, "client") != "unix" || field(body, "scheme") != "http" {
		t.Fatalf("from a unix socket: %q, want client unix, scheme http", body)
	}
	var lines []string
	eventually(t, 5*time.Second, "3 access-log lines", func() bool {
		b, _ := os.ReadFile(access)
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(lines) >= 3
	})
	for i, want := range []string{"203.0.113.9 ", "127.0.0.2 ", "unix "} {
		if !strings.HasPrefix(lines[i], want) {
			t.Errorf("access-log line %d: %q, want it to start with %q", i+1, lines[i], want)
		}
	}
}

// --forwarded-allow-ips names the trusted peers (here 127.0.0.2 and unix
// sockets, not 127.0.0.1), and --forwarded-set-remote-addr puts the
// client in r.RemoteAddr.
func TestForwardedAllowIPsAndSetRemoteAddr(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s.sock")
	s := startWS(t, 1, nil, "-l", sock, "--forwarded-allow-ips", "127.0.0.2,unix", "--forwarded-set-remote-addr")
	xff := "Forwarded: for=192.0.2.60;proto=https, for=\"[2001:db8::7]:4711\""
	body, _, _ := rawGet(t, "tcp", s.addr, from127002, nil, xff)
	if field(body, "client") != "2001:db8::7" || field(body, "remote") != "[2001:db8::7]:0" || field(body, "scheme") != "https" {
		t.Fatalf("from the trusted 127.0.0.2: %q", body)
	}
	body, _, _ = rawGet(t, "unix", sock, nil, nil, xff)
	if field(body, "client") != "2001:db8::7" {
		t.Fatalf("from a trusted unix socket: %q", body)
	}
	body, _, _ = rawGet(t, "tcp", s.addr, nil, nil, xff)
	if field(body, "client") != "127.0.0.1" || !strings.HasPrefix(field(body, "remote"), "127.0.0.1:") {
		t.Fatalf("from 127.0.0.1, no longer trusted: %q", body)
	}
}

// proxyV2 is a PROXY protocol v2 header for a TCP over IPv4 connection
// from src:sport.
func proxyV2(src net.IP, sport uint16) []byte {
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x21, 0x11, 0, 12)
	b = append(b, src.To4()...)
	b = append(b, 127, 0, 0, 1)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, 5000)
	return b
}

// --proxy-protocol reads PROXY v1 and v2 headers from trusted peers (the
// client is the one they name), refuses them from anyone else (the
// connection is closed, and the log says why), and serves connections
// without one as they are. Without it, a PROXY header is a bad request.
func TestProxyProtocol(t *testing.T) {
	s := startWS(t, 1, nil, "--proxy-protocol")
	v1 := []byte("PROXY TCP4 203.0.113.7 127.0.0.1 5555 5000\r\n")
	body, _, err := rawGet(t, "tcp", s.addr, nil, v1)
	if err != nil || field(body, "client") != "203.0.113.7" || field(body, "remote") != "203.0.113.7:5555" {
		t.Fatalf("PROXY v1 from 127.0.0.1: %q %v", body, err)
	}
	body, _, err = rawGet(t, "tcp", s.addr, nil, proxyV2(net.IPv4(198, 51, 100, 9), 6666))
	if err != nil || field(body, "client") != "198.51.100.9" || field(body, "remote") != "198.51.100.9:6666" {
		t.Fatalf("PROXY v2 from 127.0.0.1: %q %v", body, err)
	}
	body, _, err = rawGet(t, "tcp", s.addr, nil, nil)
	if err != nil || field(body, "client") != "127.0.0.1" {
		t.Fatalf("no header from 127.0.0.1: %q %v", body, err)
	}
	for _, h := range [][]byte{v1, proxyV2(net.IPv4(198, 51, 100, 9), 6666)} {
		if body, code, err := rawGet(t, "tcp", s.addr, from127002, h); err == nil {
			t.Fatalf("a PROXY header from the untrusted 127.0.0.2 was answered: %d %q", code, body)
		}
	}
	s.waitLogN(t, 5*time.Second, regexp.MustCompile(`PROXY protocol header refused from an untrusted peer .*127\.0\.0\.2:`), 2)
	body, _, err = rawGet(t, "tcp", s.addr, from127002, nil)
	if err != nil || field(body, "client") != "127.0.0.2" {
		t.Fatalf("no header from 127.0.0.2: %q %v", body, err)
	}

	off := startWS(t, 1, nil)
	if _, code, err := rawGet(t, "tcp", off.addr, nil, v1); err != nil || code != http.StatusBadRequest {
		t.Fatalf("a PROXY header without --proxy-protocol: %d %v, want 400", code, err)
	}
}
