package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starlight-go/starlight/internal/proto"
	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/internal/version"
)

// Defaults, the same as the starlight command's.
const (
	DefaultTimeout          = proto.DefaultTimeout
	DefaultKeepaliveTimeout = proto.DefaultKeepaliveTimeout
	DefaultGracefulTimeout  = proto.DefaultGracefulTimeout
	// MaxHeaderBytes bounds the request line and headers together: a
	// request over it gets 431 and is never served.
	MaxHeaderBytes = 48 << 10

	// headerSlack is what net/http reads beyond http.Server's
	// MaxHeaderBytes before it answers 431 (room for its buffered
	// reader): taken off, MaxHeaderBytes is the limit a client meets.
	headerSlack = 4096
)

var serverValue = []string{"starlight/" + version.Version}

// settings are the knobs a server runs with, from the master's spec or
// from the defaults when run by hand.
type settings struct {
	timeout          time.Duration
	keepaliveTimeout time.Duration
	maxKeepaliveReqs int // 1 = keep-alive off; 0 = unlimited
	gracefulTimeout  time.Duration
	budget           uint64        // 0 = unlimited
	limits           limits        // --limit-request-*; 0 = unlimited
	requestTimeout   time.Duration // 0 = off (reqtimeout.go)
	logSlow          time.Duration // 0 = off
	noHTTP2          bool          // no HTTP/2 over TLS (--no-http2)
	h2c              bool          // HTTP/2 without TLS, prior knowledge (--h2c)
	trust            *trust        // --forwarded-allow-ips, --forwarded-set-remote-addr
	proxyProtocol    bool          // --proxy-protocol
}

// server is one process's serving state.
type server struct {
	app       http.Handler
	set       settings
	srv       *http.Server
	listeners []net.Listener
	slot      *scoreboard.Slot // nil when serving alone
	board     *scoreboard.Board
	balance   balancer
	access    *accessLog // nil when off
	logger    *log.Logger
	tracker   *tracker
	streams   streamTimers // --request-timeout's timers of HTTP/2 streams
	pressure  *pressure    // nil: no limit on open files to watch
	refusals  refusalLog
	trust     *trust // whose forwarding headers are believed (forwarded.go)

	begun    atomic.Uint64 // requests started in this process
	accepted atomic.Uint64 // connections accepted
	conns    atomic.Int64  // open connections
	active   atomic.Int64  // requests in flight, not counting hijacked ones
	hung     atomic.Int64  // of those, ones that ignored --request-timeout past the grace
	draining atomic.Bool
	cut      atomic.Bool // the grace period ran out: requests still in flight are cut

	hijack      hijackSet    // connections the app took over (drain.go)
	hijackCount atomic.Int64 // how many of them are open

	drainOnce sync.Once
	drainCh   chan uint32 // receives the exit reason once

	noticeMu   sync.Mutex
	noticeW    *os.File // the master's ready pipe, nil once drained
	drainedFor uint32   // the drain's reason, once drain has run; under noticeMu
}

// notice tells the master, through its ready pipe w, that the worker
// serves. The pipe stays open to say when the worker starts draining on
// its own (see drain), so that the master starts the replacement at once
// instead of when this process exits.
func (s *server) notice(w *os.File) {
	s.noticeMu.Lock()
	defer s.noticeMu.Unlock()
	w.Write([]byte{proto.NoticeReady})
	if s.drainedFor != 0 {
		noticeDrain(w, s.drainedFor)
		return
	}
	s.noticeW = w
}

// noticeDrain tells the master that the worker drains, when it does so on
// its own (the master knows when it asked, or when it is gone), and closes
// the pipe.
func noticeDrain(w *os.File, reason uint32) {
	if reason == scoreboard.ExitBudget || reason == scoreboard.ExitHarakiri || reason == scoreboard.ExitHung {
		w.Write([]byte{proto.NoticeDraining})
	}
	w.Close()
}

// current is the server of this process, for Harakiri.
var current atomic.Pointer[server]

// newServer makes the serving state for app.
func newServer(app http.Handler, set settings) *server {
	return newServerFor(app, set, nil)
}

// newServerFor makes the serving state for app. own is the app's own
// http.Server (ServeServer), nil for Serve: its settings are kept, and
// starlight's hooks are chained to the app's (see ownServer).
func newServerFor(app http.Handler, set settings, own *http.Server) *server {
	s := &server{
		app:     app,
		set:     set,
		logger:  log.New(os.Stderr, "", log.LstdFlags),
		drainCh: make(chan uint32, 1),
		trust:   set.trust,
	}
	if s.trust == nil {
		s.trust = newTrust(proto.DefaultForwardedAllowIPs, false)
	}
	s.tracker = newTracker(sweepTick(set.timeout, set.keepaliveTimeout))
	s.watchRequests()
	if own != nil {
		s.ownServer(own)
	} else {
		s.srv = &http.Server{
			// No ReadTimeout or IdleTimeout: the tracker's sweep enforces
			// them (see timeouts.go).
			Handler:        s,
			MaxHeaderBytes: MaxHeaderBytes - headerSlack,
			ConnContext:    s.connContext,
			ConnState:      s.connState,
			ErrorLog:       s.logger,
		}
	}
	if set.maxKeepaliveReqs == 1 {
		s.srv.SetKeepAlivesEnabled(false)
	}
	if s.srv.Protocols == nil { // the app's own choice stands (ServeServer)
		p := new(http.Protocols)
		p.SetHTTP1(true)
		p.SetHTTP2(!set.noHTTP2)
		p.SetUnencryptedHTTP2(set.h2c)
		s.srv.Protocols = p
	}
	current.Store(s)
	return s
}

// ServeHTTP wraps the app: scoreboard, headers, keep-alive accounting,
// panics, the access log and the request budget.
func (s *server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	ci := connFrom(r)
	var h2 *connInfo
	if ci != nil && r.ProtoMajor == 2 {
		// A stream of an HTTP/2 connection: a request as any other for
		// the scoreboard and the budget, but the connection's own
		// accounting (keep-alive, timeouts) is the HTTP/2 server's.
		s.http2Stream(ci)
		h2, ci = ci, nil
	}
	if s.trust.setRemoteAddr {
		r = s.forwardedRemoteAddr(r)
	}
	if ci != nil && !ci.active() {
		// Timed out by the sweep as this request came: the connection
		// is closing, and the app never sees the request.
		panic(http.ErrAbortHandler)
	}
	now := time.Now()
	var onRecord bool
	if s.slot != nil {
		onRecord = s.slot.Begin(r.Method, r.URL.Path, now.UnixNano())
	}
	s.active.Add(1)
	n := s.begun.Add(1)
	// With keep-alive off every response closes: say so to HTTP/1.0, or
	// net/http answers a request asking for keep-alive with keep-alive
	// (to HTTP/1.1 it says close itself; HTTP/2 is not closed for it).
	closing := s.draining.Load() || (s.set.maxKeepaliveReqs == 1 && r.ProtoMajor == 1 && r.ProtoMinor == 0)
	if b := s.set.budget; b > 0 && n >= b {
		closing = true
		if n == b {
			go s.drain(scoreboard.ExitBudget)
		}
	}
	if ci != nil {
		s.bodyDeadline(ci, r, now)
		ci.requests++
		if s.board != nil {
			s.balance.served(ci.requests, r.Close, now.UnixNano())
		}
		if m := s.set.maxKeepaliveReqs; m > 1 && ci.requests >= m {
			closing = true
		} else if m != 1 && !r.Close && s.board != nil && s.overloaded() {
			closing = true // the client reconnects, to a less loaded worker
		} else if strictClosing(ci, r) {
			closing = true
		}
		if closing {
			ci.close.Store(true)
		}
	}
	h := rw.Header()
	h["Server"] = serverValue
	if closing {
		h["Connection"] = closeValue
	}

	var timer *reqTimer
	if s.set.requestTimeout > 0 {
		if timer = s.timerFor(ci, r); timer != nil {
			r = s.timeRequest(timer, r, now)
		}
	}
	w := responsePool.Get().(*response)
	*w = response{rw: rw, s: s, conn: ci, status: http.StatusOK, onRecord: onRecord, timer: timer, h2: h2}
	defer s.finish(w, r, now)
	s.app.ServeHTTP(w, r)
}

// finish runs after the app, even when it panicked.
func (s *server) finish(w *response, r *http.Request, start time.Time) {
	p := recover()
	if p != nil && p != http.ErrAbortHandler {
		if s.slot != nil {
			s.slot.Panics.Add(1)
		}
		s.logger.Printf("panic serving %s %s: %v\n%s", r.Method, r.URL.Path, p, debug.Stack())
		if !w.wroteHeader {
			h := w.rw.Header()
			for k := range h {
				delete(h, k)
			}
			h["Server"] = serverValue
			h.Set("Content-Type", "text/plain; charset=utf-8")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusInternalServerError)
			w.WriteString("Internal Server Error\n")
			p = nil // answered: the worker keeps serving
		}
	}
	if p == nil && !w.wroteHeader {
		w.WriteHeader(http.StatusOK) // settle the headers, as net/http would
	}
	if s.access != nil && (s.slot == nil || s.slot.Flags.Load()&scoreboard.FlagAccessLog != 0) {
		status := w.status
		if p != nil {
			status = 0
		}
		s.access.log(r, status, w.size, start, s.trust)
	}
	if w.timer != nil {
		s.untimeRequest(w.timer, w.conn == nil) // a stream's own timer (timerFor)
	}
	if w.h2 != nil {
		s.http2StreamEnd(w.h2)
	}
	if s.set.logSlow > 0 {
		status := w.status
		if p != nil {
			status = 0
		}
		s.logSlow(r, status, start)
	}
	if !w.hijacked { // else counted as done when hijacked
		s.active.Add(-1)
		if s.slot != nil {
			code := w.status
			if p != nil {
				code = http.StatusInternalServerError // cut short by a panic
			}
			if s.cut.Load() {
				s.slot.Abandon(w.onRecord) // counted in Cut
			} else {
				s.slot.Observe(code, int64(time.Since(start)))
				s.slot.End(w.onRecord)
			}
		}
	}
	// net/http writes out what is buffered once the handler returns:
	// that write is watched too, until the connection idles or closes.
	s.tracker.beginWrite(w.conn)
	*w = response{}
	responsePool.Put(w)
	if p != nil {
		panic(p) // headers were sent: let net/http cut the connection
	}
}

// drain stops accepting, lets connections finish and tells serve to
// return. The first reason wins.
func (s *server) drain(reason uint32) {
	s.drainOnce.Do(func() {
		s.draining.Store(true)
		// Listeners first: once the slot says Exiting, or the master
		// hears of the drain, this worker accepts nothing more (a
		// rollout counts on that before it says it has finished).
		for _, ln := range s.listeners {
			ln.Close()
		}
		if s.slot != nil {
			s.slot.ExitReason.Store(reason)
			s.slot.State.Store(scoreboard.Exiting)
		}
		s.noticeMu.Lock()
		s.drainedFor = reason
		if s.noticeW != nil {
			noticeDrain(s.noticeW, reason)
			s.noticeW = nil
		}
		s.noticeMu.Unlock()
		fireDrain() // the app's turn: Draining, OnDrain
		s.drainCh <- reason
	})
}

// serve runs until a drain has finished.
func (s *server) serve(ready func()) error {
	go s.tracker.run(s.set.timeout, s.set.keepaliveTimeout)
	defer close(s.tracker.stop)
	errc := make(chan error, len(s.listeners))
	for _, ln := range s.listeners {
		go func(ln net.Listener) {
			err := s.srv.Serve(strictListener{ln, s})
			if err != nil && !errors.Is(err, http.ErrServerClosed) && !s.draining.Load() {
				errc <- fmt.Errorf("serve %s: %w", ln.Addr(), err)
			}
		}(ln)
	}
	if ready != nil {
		ready()
	}
	var reason uint32
	select {
	case reason = <-s.drainCh:
	case err := <-errc:
		s.drain(scoreboard.ExitSignal)
		s.shutdown(time.Second)
		return err
	}
	grace := s.set.gracefulTimeout
	if reason == scoreboard.ExitOrphan {
		grace = 500 * time.Millisecond
	}
	s.shutdown(grace)
	if s.slot != nil {
		s.slot.Returned.Store(1)
	}
	return nil
}

// shutdown waits for open connections to finish: until none is open, or
// no request has been in flight for a moment (then idle keep-alive
// connections are closed), or the grace period ends (then all are cut).
// Connections the app hijacked (websockets) are waited for as requests
// in flight are, and closed at the end of the grace period.
func (s *server) shutdown(grace time.Duration) {
	deadline := time.Now().Add(grace)
	idleGrace := s.set.keepaliveTimeout
	if idleGrace > time.Second || idleGrace <= 0 {
		idleGrace = time.Second
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var idleSince time.Time
	for s.conns.Load() > 0 && time.Now().Before(deadline) {
		if s.active.Load() <= s.hung.Load() { // a hung request never ends (reqtimeout.go)
			if idleSince.IsZero() {
				idleSince = time.Now()
			} else if time.Since(idleSince) >= idleGrace {
				break
			}
		} else {
			idleSince = time.Time{}
		}
		<-tick.C
	}
	// Connections that have not sent a request head by now carry none:
	// net/http would keep them 5 s, and a slowloris would keep the
	// process draining (see tracker.shed).
	s.tracker.shed(math.MaxInt, false)
	cutAt := deadline
	if h := s.hung.Load(); h > 0 && s.active.Load() <= h {
		cutAt = time.Now() // only hung ones are left: cut them now
	}
	ctx, cancel := context.WithDeadline(context.Background(), cutAt)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		// Out of time: what is still in flight is cut, and the master
		// says so when it reaps this worker. A cut request's handler
		// that returns later does not count as served (Abandon).
		s.cut.Store(true)
		n := s.active.Load()
		if n > 0 && s.slot != nil {
			s.slot.Cut.Store(int32(n))
		}
		s.srv.Close()
	}
	// net/http has forgotten the hijacked connections: they have what is
	// left of the grace period.
	for s.hijackCount.Load() > 0 && time.Now().Before(deadline) {
		<-tick.C
	}
	if n := s.cutHijacked(); n > 0 {
		if s.slot != nil {
			s.slot.HijackedCut.Store(int32(n))
		} else {
			s.logger.Printf("starlight: hijacked connections cut at the end of the grace period (%s): %d", grace, n)
		}
	}
}
