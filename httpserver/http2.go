package httpserver

import (
	"context"
	"crypto/tls"
	"net/http"
	"slices"
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

// phaseHTTP2 marks a connection that carries HTTP/2: the sweep leaves it
// to the HTTP/2 server, which has its own accounting of streams.
const phaseHTTP2 int32 = 100

// http2Stream notes that ci carries HTTP/2.
func (s *server) http2Stream(ci *connInfo) {
	if ci.phase.Load() != phaseHTTP2 {
		ci.phase.Store(phaseHTTP2)
	}
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
