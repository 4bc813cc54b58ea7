package httpserver

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// A response never offers keep-alive on a connection about to close:
// net/http answers an HTTP/1.0 request asking for keep-alive with
// "Connection: keep-alive" even with keep-alive off, and ab -k believed it.
func TestHTTP10KeepaliveOffSaysClose(t *testing.T) {
	addr, _ := start(t, hello, settings{maxKeepaliveReqs: 1})
	req := "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	resps, _, closed := exchange(t, addr, req+req, 2)
	if len(resps) != 1 || !closed {
		t.Fatalf("%d responses, connection closed %v; want 1, closed", len(resps), closed)
	}
	if c := resps[0].Header.Get("Connection"); c == "keep-alive" || !resps[0].Close {
		t.Fatalf("Connection %q, close %v: keep-alive offered on a closing connection", c, resps[0].Close)
	}
}

// The last request of --max-keepalive-reqs says close, for HTTP/1.0 too.
func TestHTTP10LastKeepaliveRequestSaysClose(t *testing.T) {
	addr, _ := start(t, hello, settings{maxKeepaliveReqs: 2})
	req := "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	resps, _, closed := exchange(t, addr, req+req+req, 3)
	if len(resps) != 2 || !closed {
		t.Fatalf("%d responses, connection closed %v; want 2, closed", len(resps), closed)
	}
	if c := resps[0].Header.Get("Connection"); c != "keep-alive" {
		t.Errorf("first answer: Connection %q, want keep-alive", c)
	}
	if c := resps[1].Header.Get("Connection"); c == "keep-alive" || !resps[1].Close {
		t.Errorf("last answer: Connection %q, close %v", c, resps[1].Close)
	}
}

// A request in flight when the worker starts draining is answered with
// Connection: close, not keep-alive.
func TestDrainingAnswerSaysClose(t *testing.T) {
	in := make(chan struct{})
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(in)
		<-release
		io.WriteString(w, "done\n")
	})
	addr, s := start(t, h, settings{maxKeepaliveReqs: 0})
	type result struct {
		resps  []*http.Response
		closed bool
	}
	done := make(chan result, 1)
	go func() {
		resps, _, closed := exchange(t, addr, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1)
		done <- result{resps, closed}
	}()
	select {
	case <-in:
	case <-time.After(5 * time.Second):
		t.Fatal("the request did not reach the handler")
	}
	go s.drain(0)
	deadline := time.Now().Add(5 * time.Second)
	for !s.draining.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(release)
	r := <-done
	if len(r.resps) != 1 {
		t.Fatalf("%d responses", len(r.resps))
	}
	if c := r.resps[0].Header.Get("Connection"); c == "keep-alive" || !r.resps[0].Close || !r.closed {
		t.Fatalf("Connection %q, close %v, connection closed %v: keep-alive offered while draining", c, r.resps[0].Close, r.closed)
	}
}
