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
}

type connKey struct{}

var closeValue = []string{"close"}

func (s *server) connContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connInfo{})
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
func (s *server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.conns.Add(1)
		if s.slot != nil {
			s.slot.Conns.Add(1)
		}
		if b := s.set.budget; b > 0 && s.accepted.Add(1) >= b {
			s.drain(scoreboard.ExitBudget)
		}
	case http.StateClosed, http.StateHijacked:
		s.conns.Add(-1)
		if s.slot != nil {
			s.slot.Conns.Add(-1)
		}
	}
}
