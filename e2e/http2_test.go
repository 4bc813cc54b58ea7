package e2e

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// h2Client is an HTTPS client that offers HTTP/2 (and HTTP/1.1) and
// trusts the test CA.
func h2Client(p *pki) *http.Client {
	conf := p.conf(nil)
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: conf, ForceAttemptHTTP2: true}}
}

func getProto(t *testing.T, c *http.Client, url string) (string, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %q %v", url, resp.StatusCode, b, err)
	}
	return resp.Proto, string(b)
}

// With --ssl, HTTP/2 is negotiated over ALPN (curl --http2 and Go's
// client alike), and a client that offers only http/1.1 is served with
// it; --no-http2 offers http/1.1 only.
func TestHTTP2OverTLS(t *testing.T) {
	p := newPKI(t)
	s := startWS(t, 2, nil, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile)
	url := "https://" + s.addr + "/client"
	c := h2Client(p)
	defer c.CloseIdleConnections()
	if proto, body := getProto(t, c, url); proto != "HTTP/2.0" || !strings.Contains(body, "proto=HTTP/2.0") || !strings.Contains(body, "scheme=https") {
		t.Fatalf("Go's client got %s: %q, want HTTP/2.0", proto, body)
	}
	out, err := exec.Command("curl", "-sS", "--http2", "--cacert", p.caFile, "-o", "/dev/null", "-w", "%{http_version}", url).CombinedOutput()
	if err != nil || string(out) != "2" {
		t.Fatalf("curl --http2: %q %v, want HTTP version 2", out, err)
	}
	h1 := p.conf(nil)
	h1.NextProtos = []string{"http/1.1"}
	c1 := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: h1}}
	defer c1.CloseIdleConnections()
	if proto, _ := getProto(t, c1, url); proto != "HTTP/1.1" {
		t.Fatalf("a client offering http/1.1 only got %s", proto)
	}
	out, err = exec.Command("curl", "-sS", "--http1.1", "--cacert", p.caFile, "-o", "/dev/null", "-w", "%{http_version}", url).CombinedOutput()
	if err != nil || string(out) != "1.1" {
		t.Fatalf("curl --http1.1: %q %v", out, err)
	}

	off := startWS(t, 1, nil, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile, "--no-http2")
	offURL := "https://" + off.addr + "/client"
	if proto, _ := getProto(t, h2Client(p), offURL); proto != "HTTP/1.1" {
		t.Fatalf("--no-http2: Go's client got %s, want HTTP/1.1", proto)
	}
	only2 := p.conf(nil)
	only2.NextProtos = []string{"h2"}
	if conn, err := tls.Dial("tcp", off.addr, only2); err == nil {
		np := conn.ConnectionState().NegotiatedProtocol
		conn.Close()
		t.Fatalf("--no-http2: a client offering only h2 negotiated %q", np)
	}
}

// HTTP/2 streams count as requests: a worker with a budget of 5 is
// recycled after 5 streams on one connection, and the client carries on
// on a new connection (GOAWAY, not an error).
func TestHTTP2StreamsCountTowardsBudget(t *testing.T) {
	p := newPKI(t)
	s := startWS(t, 1, nil, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile, "--max-reqs-per-child", "5")
	c := h2Client(p)
	defer c.CloseIdleConnections()
	pids := map[string]bool{}
	for i := range 8 {
		proto, body := getProto(t, c, "https://"+s.addr+"/client")
		if proto != "HTTP/2.0" {
			t.Fatalf("request %d: %s", i, proto)
		}
		pids[regexp.MustCompile(`pid=\d+`).FindString(body)] = true
	}
	if len(pids) < 2 {
		t.Fatalf("8 HTTP/2 requests were all served by %v: the streams did not count towards the budget of 5", pids)
	}
	s.waitLog(t, 10*time.Second, regexp.MustCompile(`worker \d+ recycled after 5 requests`))
}

// A draining worker lets the HTTP/2 streams in flight finish: a HUP while
// a 1.5 s request is served over HTTP/2 still answers it.
func TestHTTP2DrainFinishesStreams(t *testing.T) {
	p := newPKI(t)
	s := startWS(t, 1, nil, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile)
	c := h2Client(p)
	defer c.CloseIdleConnections()
	getProto(t, c, "https://"+s.addr+"/client") // the connection, open
	type result struct {
		proto, body string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", "https://"+s.addr+"/sleep?ms=1500", nil)
		resp, err := c.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{resp.Proto, string(b), err}
	}()
	s.waitLog(t, 10*time.Second, regexp.MustCompile(`wsapp: worker \d+ sleeping 1500 ms`))
	s.signal(t, syscall.SIGHUP)
	select {
	case r := <-done:
		if r.err != nil || r.proto != "HTTP/2.0" || !strings.HasPrefix(r.body, "slept 1500 HTTP/2.0") {
			t.Fatalf("the stream in flight during the drain: %s %q %v", r.proto, r.body, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the stream in flight never finished")
	}
	// And the client carries on, on the new generation.
	if proto, _ := getProto(t, c, "https://"+s.addr+"/client"); proto != "HTTP/2.0" {
		t.Fatalf("after the reload: %s", proto)
	}
}

// --h2c serves HTTP/2 without TLS to a client that starts with its
// preface; without it such a client is refused.
func TestH2C(t *testing.T) {
	s := startWS(t, 1, nil, "--h2c")
	out, err := exec.Command("curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}", "http://"+s.addr+"/client").CombinedOutput()
	if err != nil || string(out) != "2" {
		t.Fatalf("curl --http2-prior-knowledge with --h2c: %q %v", out, err)
	}
	plain := startWS(t, 1, nil)
	out, err = exec.Command("curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version}", "http://"+plain.addr+"/client").CombinedOutput()
	if err == nil && string(out) == "2" {
		t.Fatal("HTTP/2 without TLS was served without --h2c")
	}
}

// An HTTP/2 connection with no stream open is closed: --timeout after it
// started if it never sent one, --keepalive-timeout after its last stream
// ended; over TLS (h2 by ALPN) and without (--h2c). Raw frames: the
// client preface and SETTINGS, then (second connection) one GET, then
// silence.
func TestHTTP2IdleConnectionsClose(t *testing.T) {
	// Keep-alive on: with it off (the default), net/http's HTTP/2 server
	// itself ends a connection (GOAWAY) once its streams are done.
	args := []string{"--timeout", "3", "--keepalive-timeout", "1", "--max-keepalive-reqs", "0"}
	t.Run("h2c", func(t *testing.T) {
		s := startWS(t, 1, nil, append(args, "--h2c")...)
		http2IdleCloses(t, "http", func() net.Conn {
			c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			return c
		})
	})
	t.Run("tls", func(t *testing.T) {
		p := newPKI(t)
		s := startWS(t, 1, nil, append(args, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile)...)
		http2IdleCloses(t, "https", func() net.Conn {
			conf := p.conf(nil)
			conf.NextProtos = []string{"h2"}
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", s.addr, conf)
			if err != nil {
				t.Fatal(err)
			}
			if np := c.ConnectionState().NegotiatedProtocol; np != "h2" {
				t.Fatalf("negotiated %q, want h2", np)
			}
			return c
		})
	})
}

func http2IdleCloses(t *testing.T, scheme string, dial func() net.Conn) {
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + "\x00\x00\x00\x04\x00\x00\x00\x00\x00" // an empty SETTINGS frame
	// HEADERS on stream 1, END_STREAM|END_HEADERS: :method GET, :scheme
	// http or https, :path / (HPACK static table entries 2, 6 or 7, 4).
	get := "\x00\x00\x03\x01\x05\x00\x00\x00\x01\x82\x86\x84"
	if scheme == "https" {
		get = "\x00\x00\x03\x01\x05\x00\x00\x00\x01\x82\x87\x84"
	}
	// closedAfter sends what, then reads until the server closes, and
	// returns how long that took after the last bytes it sent.
	closedAfter := func(what string) (time.Duration, []byte) {
		c := dial()
		defer c.Close()
		if _, err := io.WriteString(c, what); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		var got []byte
		last := time.Now()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				got = append(got, buf[:n]...)
				last = time.Now()
			}
			if err != nil {
				if isTimeout(err) {
					t.Fatalf("the connection was still open 15 s later (sent %q, got %q)", what, got)
				}
				return time.Since(last), got
			}
		}
	}
	d, _ := closedAfter(preface)
	if d < 2*time.Second || d > 5*time.Second {
		t.Errorf("an HTTP/2 connection that sent no request closed %s after the server's last frame, want about --timeout (3 s)", d)
	}
	d, got := closedAfter(preface + get)
	if !strings.Contains(string(got), "\x01\x04\x00\x00\x00\x01") && !strings.Contains(string(got), "\x01\x05\x00\x00\x00\x01") {
		t.Fatalf("no response HEADERS on stream 1 in %q", got)
	}
	if d < 700*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("an idle HTTP/2 connection closed %s after its last stream, want about --keepalive-timeout (1 s)", d)
	}
}
