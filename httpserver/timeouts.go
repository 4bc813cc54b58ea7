package httpserver

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The timeouts (--timeout, --keepalive-timeout) are enforced by a sweep a
// few times a second rather than by net/http's ReadTimeout and
// IdleTimeout. Those arm a runtime timer on the connection two or three
// times per request (the request's deadline, then the idle one), which
// cost a worker about 6% of its keep-alive throughput; the sweep costs a
// map lookup per request and a look at every open connection per tick.
//
//   - A new connection (its TLS handshake and first request's headers) has
//     --timeout to become a request.
//   - An idle keep-alive connection has --keepalive-timeout to become the
//     next request, headers included (net/http gave the headers
//     --timeout once their first bytes came).
//   - A request's body must be read within --timeout of the request's
//     start: that one still takes a deadline on the connection, set by
//     ServeHTTP for requests that have a body, and cleared by net/http once
//     the body is read, as ReadTimeout did.
//   - A write of the response blocked for --timeout (a client that stopped
//     reading) is cut: the handler's write fails. Each write is timed, not
//     the response, so a slow client that keeps reading is never cut.
//
// A connection over its time is closed, up to two ticks late: a tick is a
// tenth of the shorter timeout (at most a second).

// Connection phases, as the sweep sees them.
const (
	phaseNew      int32 = iota // accepted, no request yet
	phaseActive                // a request is being served
	phaseIdle                  // between requests of a keep-alive connection
	phaseTimedOut              // the sweep ended it: no request may start on it
)

// tracker knows the open connections and when each entered its phase.
type tracker struct {
	mu    sync.Mutex
	conns map[net.Conn]*connInfo

	now  atomic.Int64  // the sweep's clock, unix ns: a coarse time.Now
	seq  atomic.Uint64 // connections added
	tick time.Duration
	stop chan struct{}
	// onTick, when set, runs on each tick after the timeouts, with the
	// time: --request-timeout's look at requests (reqtimeout.go).
	onTick func(now int64)
}

// sweepTick is how often the sweep looks: a tenth of the shorter timeout,
// between 10 ms and a second.
func sweepTick(timeout, keepalive time.Duration) time.Duration {
	d := timeout
	if keepalive > 0 && (d <= 0 || keepalive < d) {
		d = keepalive
	}
	if d <= 0 {
		return time.Second // no timeouts: the sweep only keeps its clock
	}
	return min(max(d/10, 10*time.Millisecond), time.Second)
}

func newTracker(tick time.Duration) *tracker {
	t := &tracker{conns: map[net.Conn]*connInfo{}, tick: tick, stop: make(chan struct{})}
	t.now.Store(time.Now().UnixNano())
	return t
}

// add registers a new connection, from ConnContext.
func (t *tracker) add(c net.Conn, ci *connInfo) {
	ci.conn = c
	ci.seq = t.seq.Add(1)
	ci.accepted = time.Now().UnixNano()
	ci.since.Store(t.now.Load())
	t.mu.Lock()
	t.conns[c] = ci
	t.mu.Unlock()
}

// idle notes that a connection waits for its next request.
func (t *tracker) idle(c net.Conn) {
	t.mu.Lock()
	ci := t.conns[c]
	t.mu.Unlock()
	if ci != nil && ci.phase.Load() != phaseHTTP2 { // HTTP/2 has its own idleness (http2.go)
		ci.since.Store(t.now.Load())
		ci.writing.Store(0) // the response is out
		ci.phase.Store(phaseIdle)
	}
}

// remove forgets a connection closed or hijacked, and reports whether it
// knew it: net/http's HTTP/2 server reports a connection closed too (to
// the same ConnState hook, for an h2c one with the same net.Conn), before
// the HTTP/1 server that handed it over does.
func (t *tracker) remove(c net.Conn) bool {
	t.mu.Lock()
	_, ok := t.conns[c]
	delete(t.conns, c)
	t.mu.Unlock()
	return ok
}

// active notes that a request is about to be served on a connection, and
// reports false if the sweep timed the connection out first: the request
// then must not reach the app (its client sees the connection close, as
// when a keep-alive connection times out just as a request is sent).
func (ci *connInfo) active() bool {
	for {
		p := ci.phase.Load()
		if p == phaseTimedOut {
			return false
		}
		if ci.phase.CompareAndSwap(p, phaseActive) {
			return true
		}
	}
}

// run sweeps until stopped: it ends the connections over their time.
func (t *tracker) run(timeout, keepalive time.Duration) {
	tk := time.NewTicker(t.tick)
	defer tk.Stop()
	var late []lateConn
	for {
		select {
		case <-t.stop:
			return
		case now := <-tk.C:
			t.now.Store(now.UnixNano())
			late = t.over(now.UnixNano(), timeout, keepalive, late[:0])
			// A deadline in the past, not Close: net/http's own
			// goroutine for the connection then fails its read (or the
			// handler its write) and closes it (a TLS close may wait
			// seconds on a client that does not read; the sweep must
			// not).
			for _, l := range late {
				if l.write {
					l.c.SetWriteDeadline(pastDeadline)
				} else {
					l.c.SetReadDeadline(pastDeadline)
				}
			}
			clear(late)
			if t.onTick != nil {
				t.onTick(now.UnixNano())
			}
		}
	}
}

var pastDeadline = time.Unix(1, 0)

// lateConn is a connection over its time: waiting for a request (read)
// or blocked writing a response to a client that does not read (write).
type lateConn struct {
	c     net.Conn
	write bool
}

// over appends the connections over their time at now to late. One
// waiting for a request is marked timed out (unless a request started on
// it meanwhile); one stuck in a write is marked so that it is cut once.
func (t *tracker) over(now int64, timeout, keepalive time.Duration, late []lateConn) []lateConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Times are on the coarse clock, up to a tick early: a tick more
	// never ends a connection before its time.
	for c, ci := range t.conns {
		var limit time.Duration
		phase := ci.phase.Load()
		switch phase {
		case phaseNew:
			limit = timeout
		case phaseIdle:
			limit = keepalive
		case phaseHTTP2:
			if !ci.between(phaseHTTP2) {
				continue // its streams are the HTTP/2 server's to time
			}
			limit = http2Limit(ci, timeout, keepalive)
		case phaseActive:
			if w := ci.writing.Load(); w > 0 && timeout > 0 && now-w > int64(timeout+t.tick) && ci.writing.CompareAndSwap(w, -1) {
				late = append(late, lateConn{c, true})
			}
			continue
		default:
			continue
		}
		if limit > 0 && now-ci.since.Load() > int64(limit+t.tick) && ci.phase.CompareAndSwap(phase, phaseTimedOut) {
			late = append(late, lateConn{c, false})
		}
	}
	return late
}

// beginWrite notes that a write of the response to the client starts (on
// the sweep's clock); endWrite that it returned. A write blocked longer
// than --timeout, a client that stopped reading, is cut by the sweep.
func (t *tracker) beginWrite(ci *connInfo) {
	if ci != nil {
		ci.writing.CompareAndSwap(0, t.now.Load())
	}
}

func endWrite(ci *connInfo) {
	if ci != nil {
		ci.writing.Store(0)
	}
}

// bodyDeadline gives a request with a body --timeout from its start to be
// read whole, as net/http's ReadTimeout did; net/http clears the deadline
// once the body is read (before it watches the connection for the
// client's going away), so a long handler is not cut.
func (s *server) bodyDeadline(ci *connInfo, r *http.Request, start time.Time) {
	if r.Body == nil || r.Body == http.NoBody || ci.conn == nil || s.set.timeout <= 0 {
		return
	}
	ci.conn.SetReadDeadline(start.Add(s.set.timeout))
}
