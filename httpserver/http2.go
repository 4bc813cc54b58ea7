package httpserver

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"
	"time"
)

// HTTP/2. Over TLS it is on unless --no-http2 (ALPN offers h2, then
// http/1.1, as net/http's ListenAndServeTLS does); without TLS only with
// --h2c, to clients that open with HTTP/2's preface (prior knowledge).
//
// Each stream is a request for the scoreboard and the request budget. A
// draining worker marks its responses Connection: close, which net/http's
// HTTP/2 server turns into a GOAWAY on that connection: the client opens
// its next streams elsewhere while those open finish; connections with no
// stream get theirs from http.Server.Shutdown.

// phaseHTTP2 marks a connection that carries HTTP/2. Its streams are the
// HTTP/2 server's to frame and time; the sweep only closes the connection
// while no stream is open on it: --timeout after it started if no stream
// came, --keepalive-timeout after its last stream ended. Without that, a
// client could hold a worker's descriptors with connections that never
// send a request (net/http's HTTP/2 server has no idle timeout unless
// http.Server has one, which would arm a timer per HTTP/1 request too).
// Descriptor pressure sheds those connections as it sheds idle keep-alive
// ones (pressure.go).
const phaseHTTP2 int32 = 100

// http2Stream notes that a stream starts on ci, an HTTP/2 connection.
func (s *server) http2Stream(ci *connInfo) {
	ci.streams.Add(1)
	ci.streamed.Store(true)
	if ci.phase.Load() != phaseHTTP2 {
		ci.phase.Store(phaseHTTP2)
	}
}

// http2StreamEnd notes that a stream on ci has ended.
func (s *server) http2StreamEnd(ci *connInfo) {
	ci.since.Store(s.tracker.now.Load())
	ci.streams.Add(-1)
}

// between reports whether ci, in phase p, sits between requests: an
// idle keep-alive connection, or an HTTP/2 one with no stream open.
func (ci *connInfo) between(p int32) bool {
	return p == phaseIdle || (p == phaseHTTP2 && ci.streams.Load() == 0)
}

// http2Limit is how long ci, an HTTP/2 connection with no stream open,
// may stay so: --timeout if no stream came, else --keepalive-timeout.
func http2Limit(ci *connInfo, timeout, keepalive time.Duration) time.Duration {
	if ci.streamed.Load() {
		return keepalive
	}
	return timeout
}

// alpnFor drops h2 from what c offers when the server does not serve
// HTTP/2 (an app's Protocols without it): a client that chose it would
// find its connection closed.
func (s *server) alpnFor(c *tls.Config) {
	if p := s.srv.Protocols; p != nil && !p.HTTP2() && slices.Contains(c.NextProtos, "h2") {
		c.NextProtos = slices.DeleteFunc(slices.Clone(c.NextProtos), func(p string) bool { return p == "h2" })
	}
}

// serveHTTP2 serves a TLS connection that negotiated h2 with net/http's
// HTTP/2 server, as net/http itself does for a *tls.Conn (the strict
// scanner's wrapper hides it): it returns once the connection is done.
func (s *server) serveHTTP2(c *tls.Conn, ci *connInfo) {
	fn := s.srv.TLSNextProto["h2"] // set up by Serve before it accepted
	if fn == nil {
		return
	}
	ctx := ci.ctx
	if ctx == nil {
		ctx = context.WithValue(context.Background(), connKey{}, ci)
	}
	ci.since.Store(s.tracker.now.Load())
	ci.phase.Store(phaseHTTP2)
	fn(s.srv, c, h2Conn{s: s, c: c, ctx: ctx})
}

// h2Conn is the handler of one HTTP/2 connection: what net/http's own
// wrapper for it does (the connection's context, Request.TLS, the
// RemoteAddr, OPTIONS *), then the server's handler.
type h2Conn struct {
	s   *server
	c   *tls.Conn
	ctx context.Context
}

// BaseContext gives net/http's HTTP/2 server the connection's context.
func (h h2Conn) BaseContext() context.Context { return h.ctx }

func (h h2Conn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		st := h.c.ConnectionState()
		r.TLS = &st
	}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	if r.RemoteAddr == "" {
		r.RemoteAddr = h.c.RemoteAddr().String()
	}
	if r.RequestURI == "*" && r.Method == http.MethodOptions && !h.s.srv.DisableGeneralOptionsHandler {
		w.Header().Set("Content-Length", "0")
		return
	}
	h.s.srv.Handler.ServeHTTP(w, r)
}
