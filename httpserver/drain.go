package httpserver

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
)

// The drain notice. A worker drains for many reasons (its request budget,
// a reload, a scale-down, SIGTERM, Harakiri, its master gone); from that
// moment it accepts nothing more, and waits up to --graceful-timeout for
// its requests in flight and the connections the app took over
// (websockets) to end. An app that holds long-lived connections learns of
// the drain here, and ends them cleanly: a websocket closed with 1001
// (Going Away) reconnects at once, to a worker that is not draining.

var notice = struct {
	once  sync.Once
	ch    chan struct{}
	mu    sync.Mutex
	hooks []func()
	fired bool
}{ch: make(chan struct{})}

// Draining returns a channel that is closed the moment this worker starts
// draining: it accepts no more connections, and exits once its requests in
// flight and hijacked connections (websockets) have ended or
// --graceful-timeout has run out. Long-lived handlers select on it to end
// on time: close a websocket with 1001 (Going Away), end an event stream,
// answer a long poll, stop a background job.
//
// It may be called at any time, before Serve too; the channel is the same
// for the life of the process.
func Draining() <-chan struct{} {
	return notice.ch
}

// OnDrain registers f to run, in a goroutine of its own, when this worker
// starts draining (as http.Server's RegisterOnShutdown). Registered after
// the drain started, f runs at once.
func OnDrain(f func()) {
	if f == nil {
		return
	}
	notice.mu.Lock()
	if notice.fired {
		notice.mu.Unlock()
		go f()
		return
	}
	notice.hooks = append(notice.hooks, f)
	notice.mu.Unlock()
}

// fireDrain closes the Draining channel and runs the OnDrain hooks, once.
func fireDrain() {
	notice.once.Do(func() {
		notice.mu.Lock()
		notice.fired = true
		hooks := notice.hooks
		notice.hooks = nil
		notice.mu.Unlock()
		close(notice.ch)
		for _, f := range hooks {
			go f()
		}
	})
}

// Hijacked connections. Once the app takes a connection over (a websocket
// upgrade), net/http forgets it: http.Server.Shutdown neither waits for it
// nor closes it, and a worker that exits cuts it with no word to the
// client. So the worker counts them (its slot's Hijacked, which the
// dashboard shows), a drain waits for them as for requests in flight, and
// those still open when the grace period runs out are closed and counted
// (HijackedCut) for the master's log.

// hijackedConn is a connection the app took over; its Close takes it off
// the count.
type hijackedConn struct {
	net.Conn
	s      *server
	closed atomic.Bool
}

func (c *hijackedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.s.unhijack(c)
	}
	return err
}

// NetConn returns the connection underneath (a *net.TCPConn, a
// *tls.Conn, ...) for an app that needs it; closing that one directly
// leaves this connection counted until the worker exits.
func (c *hijackedConn) NetConn() net.Conn { return c.Conn }

// hijackSet is the hijacked connections still open.
type hijackSet struct {
	mu    sync.Mutex
	conns map[*hijackedConn]struct{}
}

// hijacked records that the app took c over, and returns what the app
// gets in its place.
func (s *server) hijacked(c net.Conn, rw *bufio.ReadWriter) (net.Conn, *bufio.ReadWriter) {
	hc := &hijackedConn{Conn: c, s: s}
	s.hijack.mu.Lock()
	if s.hijack.conns == nil {
		s.hijack.conns = map[*hijackedConn]struct{}{}
	}
	s.hijack.conns[hc] = struct{}{}
	s.hijack.mu.Unlock()
	s.hijackCount.Add(1)
	if s.slot != nil {
		s.slot.Hijacked.Add(1)
	}
	// rw's writer writes to the connection underneath: only Close
	// matters to the count.
	return hc, rw
}

func (s *server) unhijack(hc *hijackedConn) {
	s.hijack.mu.Lock()
	_, ok := s.hijack.conns[hc]
	delete(s.hijack.conns, hc)
	s.hijack.mu.Unlock()
	if !ok {
		return // closed by the cut
	}
	s.hijackCount.Add(-1)
	if s.slot != nil {
		s.slot.Hijacked.Add(-1)
	}
}

// cutHijacked closes the hijacked connections still open and returns how
// many there were.
func (s *server) cutHijacked() int {
	s.hijack.mu.Lock()
	conns := s.hijack.conns
	s.hijack.conns = nil
	s.hijack.mu.Unlock()
	for hc := range conns {
		hc.Conn.Close()
		s.hijackCount.Add(-1)
		if s.slot != nil {
			s.slot.Hijacked.Add(-1)
		}
	}
	return len(conns)
}
