package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// --request-timeout cancels the context of a request over its time (a
// handler that honours it ends at once), logged once with the method,
// path, worker and time; the worker serves on. --log-slow logs each
// request that took longer, with its status and time, and no other.
func TestRequestTimeoutCancelsContext(t *testing.T) {
	s := start(t, options{args: []string{"--max-workers", "1", "--request-timeout", "1", "--log-slow", "0.5"}, ready: 1})
	pid, _, err := s.whoami(s.client)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	code, body, err := s.get(s.client, "/sleep?ms=10000") // honours its context
	took := time.Since(begin)
	if err != nil || code != http.StatusOK || body != "" {
		t.Fatalf("GET /sleep?ms=10000: %d %q %v", code, body, err)
	}
	if took < time.Second || took > 4*time.Second {
		t.Errorf("the request ended after %s with --request-timeout 1", took)
	}
	reCancel := regexp.MustCompile(fmt.Sprintf(`starlight: worker %d: GET /sleep still running after 1\.\d+s \(--request-timeout 1s\): its context is cancelled$`, pid))
	s.waitLog(t, reapTimeout, reCancel)
	reSlow := regexp.MustCompile(fmt.Sprintf(`starlight: worker %d: slow request: GET /sleep 200 in 1\.\d+s \(--log-slow 500ms\)$`, pid))
	s.waitLog(t, reapTimeout, reSlow)
	// The worker serves on, and a quick request is not slow.
	if again, _, err := s.whoami(s.client); err != nil || again != pid {
		t.Errorf("after the cancel, /pid answered by %d (%v), want %d", again, err, pid)
	}
	mustFetch(t, s.client, s.url("/sleep?ms=600")) // slow, under the request timeout
	s.waitLog(t, reapTimeout, regexp.MustCompile(`slow request: GET /sleep 200 in 6\d\dms`))
	if n := s.count(reCancel); n != 1 {
		t.Errorf("%d lines for the cancelled request, want 1:\n%s", n, s.stderr)
	}
	if n := s.count(regexp.MustCompile(`slow request`)); n != 2 {
		t.Errorf("%d slow request lines, want 2 (the quick ones are not slow):\n%s", n, s.stderr)
	}
	if s.count(regexp.MustCompile(`goroutine \d+ \[|replaced|drain`)) > 0 {
		t.Errorf("a request that ended is no cause to replace the worker:\n%s", s.stderr)
	}
}

// A handler deaf to its context, still running --graceful-timeout after
// --request-timeout cancelled it: the worker logs its goroutine stacks and
// drains, a replacement serves at once, the worker's other request
// finishes, and the hung one is cut when the worker exits.
func TestRequestTimeoutHungWorkerReplaced(t *testing.T) {
	s := start(t, options{args: []string{"--max-workers", "1", "--request-timeout", "4", "--graceful-timeout", "3"}, ready: 1})
	pid, _, err := s.whoami(s.client)
	if err != nil {
		t.Fatal(err)
	}
	long := newClient(false)
	long.Timeout = 30 * time.Second
	hung := make(chan string, 1)
	go func() {
		code, body, err := s.get(long, "/hang?ms=60000")
		hung <- fmt.Sprint(code, " ", strings.TrimSpace(body), " ", err)
	}()
	s.waitLog(t, 10*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d: GET /hang still running after 4\.\d+s \(--request-timeout 4s\): its context is cancelled$`, pid)))
	// Another request on the same worker, under the request timeout,
	// that ends after the worker has started to drain (3 s from now, a
	// tick late at most: 0.4 s) and within the drain's grace (3 s).
	other := make(chan string, 1)
	go func() {
		code, body, err := s.get(long, "/sleep?ms=3500")
		other <- fmt.Sprint(code, " ", strings.TrimSpace(body), " ", err)
	}()
	s.waitLog(t, 10*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d: GET /hang still running after 7\.\d+s, 3s \(--graceful-timeout\) after its context was cancelled: the worker drains and is replaced; its goroutine stacks:$`, pid)))
	// The stacks follow, the hung handler's among them.
	eventually(t, reapTimeout, "the stacks in the log", func() bool {
		out := s.stderr.String()
		return strings.Contains(out, "goroutine ") && strings.Contains(out, "time.Sleep") && strings.Contains(out, "main.main.func")
	})
	// A replacement serves while the old worker finishes.
	var fresh int
	eventually(t, startTimeout, "a new worker answering", func() bool {
		p, _, err := s.whoami(s.client)
		fresh = p
		return err == nil && p != pid
	})
	if got, want := <-other, fmt.Sprintf("200 %d slept 3500 <nil>", pid); got != want {
		t.Errorf("the draining worker's other request: %s, want %s", got, want)
	}
	s.waitLog(t, 10*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d replaced after \d+ requests?: a request still ran --graceful-timeout after --request-timeout cancelled it \(its stacks are in the log\); 1 request in flight cut$`, pid)))
	if got := <-hung; strings.HasPrefix(got, "200") {
		t.Errorf("the hung request was answered: %s", got)
	}
	if s.count(regexp.MustCompile(`crashed`)) > 0 {
		t.Errorf("a replaced worker is no crash:\n%s", s.stderr)
	}
	if p, _, err := s.whoami(s.client); err != nil || p != fresh {
		t.Errorf("after the exit, /pid answered by %d (%v), want the replacement %d", p, err, fresh)
	}
}

// --request-timeout times each HTTP/2 stream on its own: two streams in
// flight on one connection (--h2c, net/http's client multiplexing them)
// both have their contexts cancelled after their time, each logged.
func TestRequestTimeoutHTTP2Streams(t *testing.T) {
	// Keep-alive on: with it off (the default), net/http's HTTP/2 server
	// ends a connection (GOAWAY) once its streams are done.
	s := start(t, options{args: []string{"--max-workers", "1", "--h2c", "--request-timeout", "1", "--max-keepalive-reqs", "0"}, ready: 1})
	pid, _, err := s.whoami(s.client)
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	var dials atomic.Int32
	dialer := &net.Dialer{Timeout: 2 * time.Second}
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		Protocols: &protocols,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	defer client.CloseIdleConnections()
	// One connection first, for the two streams to share: started at
	// once on none, they would each dial.
	if resp, err := client.Get(s.url("/pid")); err != nil || resp.Proto != "HTTP/2.0" {
		t.Fatalf("GET /pid over h2c: %v %v", resp, err)
	} else {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	begin := time.Now()
	type answer struct {
		proto string
		code  int
		err   error
	}
	answers := make(chan answer, 2)
	for _, ms := range []string{"10000", "10001"} {
		go func() {
			resp, err := client.Get(s.url("/sleep?ms=" + ms))
			if err != nil {
				answers <- answer{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answers <- answer{resp.Proto, resp.StatusCode, nil}
		}()
	}
	for range 2 {
		if a := <-answers; a.err != nil || a.proto != "HTTP/2.0" || a.code != 200 {
			t.Fatalf("%s %d %v, want two HTTP/2 answers 200", a.proto, a.code, a.err)
		}
	}
	took := time.Since(begin)
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections for the two streams, want them on 1", n)
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("the two streams ended after %s with --request-timeout 1", took)
	}
	re := regexp.MustCompile(fmt.Sprintf(`starlight: worker %d: GET /sleep still running after 1\.\d+s \(--request-timeout 1s\): its context is cancelled$`, pid))
	s.waitLogN(t, reapTimeout, re, 2)
	if n := s.count(re); n != 2 {
		t.Errorf("%d lines for the two cancelled streams, want 2:\n%s", n, s.stderr)
	}
}
