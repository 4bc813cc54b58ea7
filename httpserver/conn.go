package httpserver

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
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

// connState counts open connections so that a drain knows when it is done.
func (s *server) connState(_ net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		s.conns.Add(1)
		if s.slot != nil {
			s.slot.Conns.Add(1)
		}
	case http.StateClosed, http.StateHijacked:
		s.conns.Add(-1)
		if s.slot != nil {
			s.slot.Conns.Add(-1)
		}
	}
}
