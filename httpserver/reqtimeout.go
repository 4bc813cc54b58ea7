package httpserver

import (
	"context"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
)

// --request-timeout: a request still in flight after it has its context
// cancelled, so that a handler that honours r.Context() (a database
// query, an outgoing call, a select on Done) ends; the worker logs it
// once. A handler that ignores its context and is still running
// --graceful-timeout after that is stuck for good: the worker logs its
// goroutine stacks and drains, its other requests finish, and the master
// starts its replacement at once (its slot says why). The tracker's sweep
// does the looking, a few times per --request-timeout: a request pays for
// a context of its own and two uncontended locks, and nothing at all when
// the option is off.
//
// --log-slow logs each request that took longer, when it ends: a clock
// reading per request when on, nothing when off.
//
// Requests on hijacked connections (websockets) are not timed: they are
// the app's from the hijack on. HTTP/2 streams are, each on its own.

// reqTimer is the timed request of one connection (net/http serves one at
// a time per connection), kept for the connection's life.
type reqTimer struct {
	mu        sync.Mutex
	start     int64 // unix ns; 0 when no request is in flight
	method    string
	path      string
	cancel    context.CancelFunc
	cancelled bool // its context was cancelled (and that logged)
	hung      bool // it outlived the grace after that
}

// watchRequests sets the sweep up for --request-timeout: it looks at
// least ten times per timeout.
func (s *server) watchRequests() {
	rt := s.set.requestTimeout
	if rt <= 0 {
		return
	}
	s.tracker.tick = min(s.tracker.tick, max(rt/10, 10*time.Millisecond))
	s.tracker.onTick = s.checkRequests
}

// streamTimers are the timers of the HTTP/2 streams in flight: a
// connection carries many at once, so each has its own, made as it
// starts, where an HTTP/1 connection reuses one for its life.
type streamTimers struct {
	mu  sync.Mutex
	set map[*reqTimer]struct{}
}

func (st *streamTimers) add() *reqTimer {
	t := new(reqTimer)
	st.mu.Lock()
	if st.set == nil {
		st.set = map[*reqTimer]struct{}{}
	}
	st.set[t] = struct{}{}
	st.mu.Unlock()
	return t
}

func (st *streamTimers) remove(t *reqTimer) {
	st.mu.Lock()
	delete(st.set, t)
	st.mu.Unlock()
}

// timerFor is the timer of r: its connection's for HTTP/1 (ci), a new one
// for an HTTP/2 stream (its ci is nil); nil when r is not timed.
func (s *server) timerFor(ci *connInfo, r *http.Request) *reqTimer {
	switch {
	case ci != nil:
		return ci.timer // made with the connection
	case r.ProtoMajor == 2:
		return s.streams.add()
	}
	return nil
}

// timeRequest gives r a context of its own, cancelled by the sweep once
// r has run for --request-timeout, and notes r on its timer.
func (s *server) timeRequest(t *reqTimer, r *http.Request, start time.Time) *http.Request {
	ctx, cancel := context.WithCancel(r.Context())
	t.mu.Lock()
	t.start, t.method, t.path, t.cancel = start.UnixNano(), r.Method, r.URL.Path, cancel
	t.cancelled, t.hung = false, false
	t.mu.Unlock()
	return r.WithContext(ctx)
}

// untimeRequest notes that the request on t returned (and forgets t if
// it was a stream's).
func (s *server) untimeRequest(t *reqTimer, stream bool) {
	if stream {
		s.streams.remove(t)
	}
	t.mu.Lock()
	cancel, hung := t.cancel, t.hung
	t.start, t.cancel, t.method, t.path = 0, nil, "", ""
	t.mu.Unlock()
	if cancel != nil {
		cancel() // what the context holds goes
	}
	if hung {
		s.hung.Add(-1)
	}
}

// overdue is a request the sweep found over its time.
type overdue struct {
	method, path string
	elapsed      time.Duration
	hung         bool               // past the grace as well; else to be cancelled
	cancel       context.CancelFunc // its context's, called once the line is out
}

// checkRequests runs on each tick of the sweep: it cancels the requests
// over --request-timeout and finds those over the grace after that.
func (s *server) checkRequests(now int64) {
	limit := int64(s.set.requestTimeout)
	grace := int64(s.set.gracefulTimeout)
	var timers []*reqTimer
	s.tracker.mu.Lock()
	for _, ci := range s.tracker.conns {
		if ci.timer != nil && ci.phase.Load() == phaseActive {
			timers = append(timers, ci.timer)
		}
	}
	s.tracker.mu.Unlock()
	s.streams.mu.Lock()
	for t := range s.streams.set {
		timers = append(timers, t)
	}
	s.streams.mu.Unlock()
	var late []overdue
	for _, t := range timers {
		t.mu.Lock()
		if t.start != 0 {
			elapsed := now - t.start
			switch {
			case !t.cancelled && elapsed >= limit:
				t.cancelled = true
				late = append(late, overdue{t.method, t.path, time.Duration(elapsed), false, t.cancel})
			case t.cancelled && !t.hung && elapsed >= limit+grace:
				t.hung = true
				s.hung.Add(1)
				late = append(late, overdue{t.method, t.path, time.Duration(elapsed), true, nil})
			}
		}
		t.mu.Unlock()
	}
	for _, o := range late {
		if !o.hung {
			// The line first: a handler that honours its context ends
			// once cancelled, and its request's end (an access line, the
			// client's answer) must not come before the line saying why.
			s.logger.Printf("starlight: worker %d: %s %s still running after %s (--request-timeout %s): its context is cancelled",
				os.Getpid(), o.method, o.path, round(o.elapsed), s.set.requestTimeout)
			o.cancel()
			continue
		}
		s.replaceHung(o)
	}
}

// replaceHung logs the goroutine stacks of a worker whose request ignored
// its cancelled context, and drains it: its other requests finish, the
// master starts a replacement at once. The first one does; the worker is
// draining after that. Alone (--max-workers 0, or run by hand) nobody
// would replace it: it keeps serving.
func (s *server) replaceHung(o overdue) {
	what := "the worker drains and is replaced"
	if s.slot == nil {
		what = "with no master to replace this process, it keeps serving"
	} else if s.draining.Load() {
		what = "the worker is draining already"
	}
	s.logger.Printf("starlight: worker %d: %s %s still running after %s, %s (--graceful-timeout) after its context was cancelled: %s; its goroutine stacks:\n%s",
		os.Getpid(), o.method, o.path, round(o.elapsed), s.set.gracefulTimeout, what, stacks())
	if s.slot != nil {
		s.drain(scoreboard.ExitHung)
	}
}

// stacks returns every goroutine's stack, up to 16 MiB.
func stacks() []byte {
	buf := make([]byte, 256<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) || len(buf) >= 16<<20 {
			return buf[:n]
		}
		buf = make([]byte, 2*len(buf))
	}
}

// logSlow logs a request that took longer than --log-slow.
func (s *server) logSlow(r *http.Request, status int, start time.Time) {
	d := time.Since(start)
	if d <= s.set.logSlow {
		return
	}
	st := "-" // the handler panicked after the headers: the connection was cut
	if status > 0 {
		st = strconv.Itoa(status)
	}
	s.logger.Printf("starlight: worker %d: slow request: %s %s %s in %s (--log-slow %s)",
		os.Getpid(), r.Method, r.URL.Path, st, round(d), s.set.logSlow)
}

// round shows a duration to the millisecond (to the 10 µs below one).
func round(d time.Duration) time.Duration {
	if d < time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
