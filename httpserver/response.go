package httpserver

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// response wraps net/http's ResponseWriter to learn the status and size for
// the access log, to settle the Server and Connection headers just before
// they are written, and to know whether a panicking handler already sent
// its headers. Values are pooled: a request allocates nothing here.
type response struct {
	rw          http.ResponseWriter
	s           *server
	conn        *connInfo
	status      int
	size        int64
	wroteHeader bool
	onRecord    bool      // the scoreboard keeps this request as the one in flight
	hijacked    bool      // the app took the connection over
	timer       *reqTimer // --request-timeout's, or nil; an HTTP/2 stream's own when conn is nil
	h2          *connInfo // the HTTP/2 connection this stream is on, or nil
}

var responsePool = sync.Pool{New: func() any { return new(response) }}

func (r *response) Header() http.Header { return r.rw.Header() }

func (r *response) WriteHeader(code int) {
	if r.wroteHeader {
		r.rw.WriteHeader(code) // let net/http report the superfluous call
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		r.rw.WriteHeader(code) // informational: the final status follows
		return
	}
	r.wroteHeader = true
	r.status = code
	h := r.rw.Header()
	if v := h["Server"]; len(v) > 1 {
		h["Server"] = v[len(v)-1:] // the app's own value wins; never two
	}
	if code == http.StatusSwitchingProtocols {
		// The connection becomes the app's (a websocket): it is not
		// closed after this response, whatever budget it was the last of.
		if v := h["Connection"]; len(v) == 1 && &v[0] == &closeValue[0] {
			delete(h, "Connection")
		}
	} else if r.conn != nil && (r.conn.close.Load() || r.s.draining.Load()) {
		// Never offer keep-alive on a connection about to close (net/http
		// answers an HTTP/1.0 keep-alive request with keep-alive even
		// when it is about to close).
		h["Connection"] = closeValue
	}
	r.rw.WriteHeader(code)
}

func (r *response) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	r.s.tracker.beginWrite(r.conn)
	n, err := r.rw.Write(p)
	endWrite(r.conn)
	r.size += int64(n)
	return n, err
}

func (r *response) WriteString(s string) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	r.s.tracker.beginWrite(r.conn)
	n, err := io.WriteString(r.rw, s)
	endWrite(r.conn)
	r.size += int64(n)
	return n, err
}

// ReadFrom keeps net/http's sendfile path for io.Copy from a file.
func (r *response) ReadFrom(src io.Reader) (int64, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	var n int64
	var err error
	r.s.tracker.beginWrite(r.conn)
	defer endWrite(r.conn)
	if rf, ok := r.rw.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(struct{ io.Writer }{r.rw}, src)
	}
	r.size += n
	return n, err
}

func (r *response) Flush() {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if f, ok := r.rw.(http.Flusher); ok {
		r.s.tracker.beginWrite(r.conn)
		f.Flush()
		endWrite(r.conn)
	}
}

func (r *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if r.conn != nil {
		r.conn.hijacked.Store(true)
	}
	c, rw, err := http.NewResponseController(r.rw).Hijack()
	if err != nil {
		if r.conn != nil {
			r.conn.hijacked.Store(false)
		}
		return c, rw, err
	}
	if !r.wroteHeader {
		r.wroteHeader = true
		r.status = http.StatusSwitchingProtocols
	}
	if !r.hijacked {
		// The request is done as HTTP (it counts as served, and leaves
		// the slot's record); the connection now counts as hijacked
		// until the app closes it.
		r.hijacked = true
		r.s.active.Add(-1)
		if r.s.slot != nil {
			r.s.slot.End(r.onRecord)
		}
		c, rw = r.s.hijacked(c, rw)
	}
	return c, rw, nil
}

// Unwrap gives http.ResponseController the writer underneath.
func (r *response) Unwrap() http.ResponseWriter { return r.rw }
