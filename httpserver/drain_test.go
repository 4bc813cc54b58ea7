package httpserver

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// resetNotice gives a test the drain notice of a process that has not
// drained yet (other tests' servers drained this one's).
func resetNotice(t *testing.T) {
	notice.mu.Lock()
	notice.once = sync.Once{}
	notice.ch = make(chan struct{})
	notice.hooks = nil
	notice.fired = false
	notice.mu.Unlock()
}

func TestDrainNotice(t *testing.T) {
	resetNotice(t)
	ran := make(chan string, 2)
	OnDrain(func() { ran <- "before" })
	_, s := start(t, hello, settings{})
	select {
	case <-Draining():
		t.Fatal("Draining closed before the drain")
	default:
	}
	s.drain(0)
	select {
	case <-Draining():
	case <-time.After(5 * time.Second):
		t.Fatal("Draining not closed by the drain")
	}
	OnDrain(func() { ran <- "after" })
	got := map[string]bool{}
	for range 2 {
		select {
		case h := <-ran:
			got[h] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("hooks run: %v, want before and after", got)
		}
	}
}

// hijacker takes the connection over and echoes lines on it until the
// client closes it, or the drain notice if closeOnDrain.
func hijacker(closeOnDrain bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			lines := make(chan string)
			go func() {
				defer close(lines)
				for {
					l, err := brw.ReadString('\n')
					if err != nil {
						return
					}
					lines <- l
				}
			}()
			drain := Draining()
			if !closeOnDrain {
				drain = nil
			}
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						return
					}
					io.WriteString(c, l)
				case <-drain:
					io.WriteString(c, "bye\n")
					return
				}
			}
		}()
	})
}

func upgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	return c, br
}

func echoLine(t *testing.T, c net.Conn, br *bufio.Reader, l string) {
	t.Helper()
	io.WriteString(c, l+"\n")
	got, err := br.ReadString('\n')
	if err != nil || got != l+"\n" {
		t.Fatalf("echo %q: got %q, %v", l, got, err)
	}
}

// A drain waits for hijacked connections as for requests in flight: the
// app closes its own on the notice, and the server then returns at once.
func TestDrainWaitsForHijackedUntilAppCloses(t *testing.T) {
	resetNotice(t)
	addr, s := start(t, hijacker(true), settings{gracefulTimeout: 10 * time.Second})
	c, br := upgrade(t, addr)
	echoLine(t, c, br, "one")
	if n := s.hijackCount.Load(); n != 1 {
		t.Fatalf("hijacked count %d, want 1", n)
	}
	if n := s.active.Load(); n != 0 {
		t.Fatalf("%d requests in flight after the hijack, want 0", n)
	}
	done := make(chan struct{})
	begin := time.Now()
	go func() { s.drain(0); s.shutdown(s.set.gracefulTimeout); close(done) }()
	if got, err := br.ReadString('\n'); got != "bye\n" {
		t.Fatalf("after the drain: %q %v, want the app's bye", got, err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown still waits after the app closed its connection")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("shutdown took %s", d)
	}
	if n := s.hijackCount.Load(); n != 0 {
		t.Fatalf("hijacked count %d after the close, want 0", n)
	}
}

// An app that ignores the notice keeps its connection until the grace
// period ends; then it is closed.
func TestDrainCutsHijackedAtGrace(t *testing.T) {
	resetNotice(t)
	const grace = 700 * time.Millisecond
	addr, s := start(t, hijacker(false), settings{gracefulTimeout: grace})
	c, br := upgrade(t, addr)
	begin := time.Now()
	go func() { s.drain(0); s.shutdown(grace) }()
	for time.Since(begin) < grace/2 {
		echoLine(t, c, br, "still")
	}
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("the connection outlived the grace period")
	}
	if d := time.Since(begin); d < grace-50*time.Millisecond {
		t.Fatalf("cut after %s, before the grace period of %s", d, grace)
	}
}
