package httpserver

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/starlight-go/starlight/internal/scoreboard"
)

// connInfo is what a worker keeps about one connection: the requests read
// on it (for --max-keepalive-reqs) and whether its current response must
// close it. net/http reads one request at a time per connection, so only
// the close flag is touched from other goroutines (Harakiri, drain).
type connInfo struct {
	requests int
	close    atomic.Bool
	hijacked atomic.Bool // the app took the connection over (see strictconn.go)
	upgrade  atomic.Bool // the scanner stopped at an upgrade (see strictClosing)

	conn     net.Conn     // as net/http has it (a *tls.Conn on a TLS listener)
	seq      uint64       // accept order, for shedding the oldest (pressure.go)
	accepted int64        // when, unix ns
	timer    *reqTimer    // --request-timeout: its request in flight (reqtimeout.go)
	phase    atomic.Int32 // phaseNew, phaseActive, phaseIdle (see timeouts.go)
	since    atomic.Int64 // when it entered its phase, on the sweep's clock
	// writing: when the write of the response under way began, on the
	// sweep's clock; 0 when none is, -1 once the sweep has cut it (until
	// that write returns).
	writing atomic.Int64
	// ctx is the connection's context, kept for a TLS connection that
	// may turn out to carry HTTP/2 (see serveHTTP2).
	ctx context.Context
	// HTTP/2 (phaseHTTP2): the streams being served now, and whether
	// one has been; since is when the last one ended (http2.go).
	streams  atomic.Int32
	streamed atomic.Bool
}

type connKey struct{}

var closeValue = []string{"close"}

func (s *server) connContext(ctx context.Context, c net.Conn) context.Context {
	ci := connInfoFor(c)
	if s.set.requestTimeout > 0 {
		ci.timer = new(reqTimer)
	}
	s.tracker.add(c, ci)
	ctx = context.WithValue(ctx, connKey{}, ci)
	if _, ok := c.(*strictTLSConn); ok {
		ci.ctx = ctx
	}
	return ctx
}

func connFrom(r *http.Request) *connInfo {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	return ci
}

// connState counts open connections so that a drain knows when it is done,
// and stops accepting once as many connections as the request budget have
// been accepted: with keep-alive off each carries one request, so a worker
// serves exactly its budget; with keep-alive, the response that reaches
// the budget closes its connection. It runs in the accept loop, after
// net/http tracks the new connection and before the next accept: a drain
// started here waits for this connection.
func (s *server) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateIdle:
		s.tracker.idle(c)
	case http.StateNew:
		s.conns.Add(1)
		if s.slot != nil {
			s.slot.Conns.Add(1)
		}
		if b := s.set.budget; b > 0 && s.accepted.Add(1) >= b {
			s.drain(scoreboard.ExitBudget)
		}
	case http.StateClosed, http.StateHijacked:
		if !s.tracker.remove(c) {
			return // counted once only (see tracker.remove)
		}
		s.conns.Add(-1)
		if s.slot != nil {
			s.slot.Conns.Add(-1)
		}
	}
}
