package httpserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pressedServer is start's, with the listener wrapped for pressure.
func pressedServer(t *testing.T, h http.Handler, high, low int64) (string, *server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(h, settings{timeout: 5 * time.Second, keepaliveTimeout: 2 * time.Second, gracefulTimeout: 5 * time.Second})
	s.logger.SetOutput(io.Discard)
	s.pressure = &pressure{s: s, limit: high + 1, high: high, low: low}
	s.listeners = []net.Listener{s.pressure.listener(ln)}
	done := make(chan struct{})
	go func() {
		if err := s.serve(nil); err != nil {
			t.Errorf("serve: %v", err)
		}
		close(done)
	}()
	t.Cleanup(func() {
		s.drain(0)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ln.Addr().String(), s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s (%d connections open)", what, current.Load().conns.Load())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closedByServer reports whether the server has closed c (EOF or reset)
// within wait.
func closedByServer(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	return err != nil && !isTimeout(err)
}

// gate is a handler that holds each request until released.
type gate struct {
	in      chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{in: make(chan struct{}, 64), release: make(chan struct{})} }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.in <- struct{}{}
	<-g.release
	io.WriteString(w, "done\n")
}

func sendGet(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	return c
}

func readStatus(t *testing.T, c net.Conn, wait time.Duration) (int, error) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// At its high mark, a worker closes the connections that have sent no
// complete request head, the oldest first, only as many as it needs and
// only once they have waited shedMinAge, and never one whose request is
// being served.
func TestPressureShedsOldestWaiting(t *testing.T) {
	g := newGate()
	addr, s := pressedServer(t, g, 8, 6)
	busy := sendGet(t, addr)
	<-g.in
	var slow []net.Conn
	for i := range 7 {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // half a head
		slow = append(slow, c)
		waitFor(t, fmt.Sprintf("connection %d accepted", i+2), func() bool { return s.tracker.seq.Load() == uint64(i+2) })
	}
	// 8 open: room is made for the next accept, down to 6 of those old
	// enough (on a loaded machine the second may not be yet when the
	// first is, and then one is enough to accept again).
	start := time.Now()
	waitFor(t, "room made", func() bool { return s.conns.Load() <= 7 })
	if d := time.Since(start); d < shedMinAge/2 {
		t.Errorf("shed after %s: connections that young may be requests on their way", d)
	}
	closed := 0
	for i, c := range slow {
		got := closedByServer(c, 100*time.Millisecond)
		if got {
			closed++
		}
		if got && closed != i+1 {
			t.Errorf("slow connection %d (of 7) closed before an older one", i)
		}
	}
	if closed < 1 || closed > 2 {
		t.Errorf("%d slow connections closed, want 1 or 2 (down to the low mark of 6)", closed)
	}
	next := sendGet(t, addr)
	<-g.in
	close(g.release)
	for _, c := range []net.Conn{busy, next} {
		if code, err := readStatus(t, c, 5*time.Second); code != http.StatusOK {
			t.Errorf("request being served: %d %v", code, err)
		}
	}
}

// When every connection carries a request, the worker accepts nothing
// until one ends.
func TestPressureWaitsForRequests(t *testing.T) {
	g := newGate()
	addr, s := pressedServer(t, g, 4, 2)
	var busy []net.Conn
	for i := range 4 {
		busy = append(busy, sendGet(t, addr))
		select {
		case <-g.in:
		case <-time.After(3 * time.Second):
			t.Fatalf("request %d not served; %d connections open", i, s.conns.Load())
		}
	}
	waiting := sendGet(t, addr) // queued by the kernel, not accepted
	time.Sleep(100 * time.Millisecond)
	if n := s.conns.Load(); n != 4 {
		t.Fatalf("%d connections accepted at the high mark of 4 with every one busy", n)
	}
	g.release <- struct{}{} // one request ends
	<-g.in                  // the waiting one is accepted and served
	close(g.release)
	for i, c := range append(busy, waiting) {
		if code, err := readStatus(t, c, 5*time.Second); code != http.StatusOK {
			t.Errorf("request %d: %d %v", i, code, err)
		}
	}
}

// Idle keep-alive connections wait for a request head too, and need not
// be old to be closed: their clients retry on another connection.
func TestPressureShedsIdleKeepalive(t *testing.T) {
	addr, s := pressedServer(t, hello, 5, 3)
	var idle []net.Conn
	for i := range 5 {
		if i == 4 {
			// The client has its answers before net/http marks a
			// connection idle: the four are candidates once it has.
			waitFor(t, "4 idle connections", func() bool { return idleConns(s) == 4 })
		}
		c := sendGet(t, addr)
		if code, err := readStatus(t, c, 5*time.Second); code != http.StatusOK {
			t.Fatalf("request %d: %d %v", i, code, err)
		}
		idle = append(idle, c)
	}
	// At the mark as the fifth came: the oldest idle ones are closed.
	waitFor(t, "room made", func() bool { return s.conns.Load() < 5 })
	var closed []bool
	n := 0
	for i, c := range idle {
		closed = append(closed, closedByServer(c, 100*time.Millisecond))
		if closed[i] {
			n++
		}
	}
	if n == 0 || n > 2 || !closed[0] || (n == 2 && !closed[1]) {
		t.Errorf("idle connections closed (oldest first, 2 at most): %v", closed)
	}
	c := sendGet(t, addr)
	if code, err := readStatus(t, c, 5*time.Second); code != http.StatusOK {
		t.Fatalf("after room was made: %d %v", code, err)
	}
}

// idleConns is how many of s's connections wait between requests.
func idleConns(s *server) int {
	s.tracker.mu.Lock()
	defer s.tracker.mu.Unlock()
	n := 0
	for _, ci := range s.tracker.conns {
		if ci.phase.Load() == phaseIdle {
			n++
		}
	}
	return n
}

type fakeListener struct {
	mu    sync.Mutex
	errs  []error
	conns chan net.Conn
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	c, ok := <-l.conns
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{} }

// An accept that fails for want of a descriptor is not net/http's to
// retry and log: the worker counts its descriptors again, logs it (once
// in a while) and accepts again.
func TestPressureAcceptEMFILE(t *testing.T) {
	s := newServer(hello, settings{})
	var log bytes.Buffer
	s.logger.SetOutput(&log)
	s.pressure = &pressure{s: s, limit: 1 << 20, high: 1 << 19, low: 1 << 18}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	fl := &fakeListener{conns: make(chan net.Conn, 1)}
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	fl.errs = []error{emfile, emfile}
	fl.conns <- a
	c, err := s.pressure.listener(fl).Accept()
	if err != nil || c != a {
		t.Fatalf("Accept: %v, %v", c, err)
	}
	if got := s.pressure.base.Load(); got < 3 {
		t.Errorf("descriptors counted again: %d", got)
	}
	if !regexp.MustCompile(`starlight: worker \d+ near its limit of 1048576 open files \(\d+ held\): 1 accept failed for want of a descriptor\n`).MatchString(log.String()) {
		t.Errorf("log: %q", log.String())
	}
	close(fl.conns)
	if _, err := s.pressure.listener(fl).Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("other errors pass: %v", err)
	}
}

func TestNewPressureMarks(t *testing.T) {
	s := newServer(hello, settings{})
	for _, c := range []struct{ limit, high, low int64 }{
		{1024, 896, 880},
		{64, 48, 44},
		{1 << 20, 1<<20 - 1024, 1<<20 - 1024 - 1<<14},
	} {
		p := newPressure(s, uint64(c.limit))
		if p.high != c.high || p.low != c.low {
			t.Errorf("limit %d: marks %d, %d; want %d, %d", c.limit, p.high, p.low, c.high, c.low)
		}
	}
	if newPressure(s, 0) != nil || newPressure(s, ^uint64(0)) != nil {
		t.Error("no limit, no watch")
	}
}
