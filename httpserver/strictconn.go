package httpserver

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
)

// strictListener hands net/http connections whose reads go through a
// scanner (strict.go) first.
type strictListener struct {
	net.Listener
	s *server
}

func (l strictListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	switch tc := c.(type) {
	case *tls.Conn:
		sc := &strictTLSConn{tls: tc}
		sc.init(c, l.s)
		return sc, nil
	case io.ReaderFrom:
		sc := &strictRFConn{}
		sc.init(c, l.s)
		return sc, nil
	}
	sc := &strictConn{}
	sc.init(c, l.s)
	return sc, nil
}

func (c *strictConn) init(conn net.Conn, s *server) {
	c.Conn, c.s, c.sc = conn, s, newScanner(s.set.limits)
}

// strictConn is a connection as net/http sees it. Its connInfo lives here,
// so that a connection costs one allocation, as before.
//
// On a broken rule the scanner says how many of the bytes read may go to
// net/http: those before the refused request. net/http serves the
// requests before it, then asks for more; that read writes the refusal,
// logs it, and fails as a read of a connection the client closed does,
// so net/http closes the connection without a word of its own. The
// refused request never reaches the app. Reads run one at a time
// (net/http's connReader sees to it), so the fields below need no lock.
//
// The one exception is chunked framing that arrives after the head has
// gone to net/http (and the app may be reading the body): the body's read
// fails, naming the rule, and the response closes the connection.
type strictConn struct {
	net.Conn
	s    *server
	info connInfo
	sc   scanner

	began   bool   // the connection's first bytes were read
	pending rule   // refused; the answer waits for net/http's next read of a request
	line    string // the refused request's line, when it came whole in the read that found the refusal
	failed  error  // what every read returns from now on
}

// strictRFConn keeps the sendfile and splice path of net/http's
// response.ReadFrom, which looks for an io.ReaderFrom connection.
type strictRFConn struct{ strictConn }

func (c *strictRFConn) ReadFrom(r io.Reader) (int64, error) {
	return c.Conn.(io.ReaderFrom).ReadFrom(r)
}

// strictTLSConn sets Request.TLS: net/http takes the connection state
// from a connection that has a ConnectionState method, once, before its
// first read; so the handshake happens there, as net/http does it for a
// *tls.Conn.
type strictTLSConn struct {
	strictConn
	tls *tls.Conn
}

func (c *strictTLSConn) ConnectionState() tls.ConnectionState {
	if err := c.tls.Handshake(); err != nil {
		reason := err.Error()
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			re.Conn.Close()
			reason = "client sent an HTTP request to an HTTPS server"
		}
		c.s.logger.Printf("http: TLS handshake error from %s: %v", c.RemoteAddr(), reason)
		c.failed = errGone
		return tls.ConnectionState{}
	}
	st := c.tls.ConnectionState()
	if st.NegotiatedProtocol == "h2" {
		// net/http hands a connection to its HTTP/2 server only when
		// it is a *tls.Conn: this one is served here, and is done with
		// once that returns.
		c.s.serveHTTP2(c.tls, &c.info)
		c.failed = errGone
	}
	return st
}

func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// h2cPreface starts an HTTP/2 connection without TLS (--h2c).
var h2cPreface = []byte("PRI * HTTP/2.0")

// errGone is what a read returns once the connection is done with: a read
// error, for net/http to close the connection without answering.
var errGone = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("request refused")}

// bodyError fails the read of a body whose chunked framing broke a rule.
type bodyError struct{ r rule }

func (e bodyError) Error() string { return "request refused: " + e.r.String() }

// NetConn returns the connection underneath, for an app that hijacked it.
func (c *strictConn) NetConn() net.Conn { return c.Conn }

// CloseWrite lets net/http half-close the connection after its own error
// answers, as it does on a TCP connection.
func (c *strictConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *strictConn) Read(p []byte) (int, error) {
	for {
		if c.pending != ruleNone {
			if c.info.phase.Load() == phaseActive {
				// net/http's background read while the request before
				// is served: it ends, and the refusal waits for the
				// read of the next request.
				return 0, nil
			}
			return 0, c.refuse()
		}
		if c.failed != nil {
			return 0, c.failed
		}
		n, err := c.Conn.Read(p)
		if n == 0 || c.sc.st == stPass {
			return n, err
		}
		if c.info.hijacked.Load() {
			c.sc.st = stPass // the app's own protocol now
			return n, err
		}
		if !c.began {
			c.began = true
			if c.s.set.h2c && bytes.HasPrefix(p[:n], h2cPreface) {
				c.sc.st = stPass // HTTP/2 (--h2c): net/http's to read
				// net/http hands it to its HTTP/2 server without a
				// ConnState call: the sweep times it as HTTP/2 from now.
				c.info.since.Store(c.s.tracker.now.Load())
				c.info.phase.Store(phaseHTTP2)
				return n, err
			}
		}
		v := c.sc.scan(p[:n])
		if c.sc.st == stPass {
			// An upgrade (or CONNECT): what follows is not scanned, so
			// the connection closes after its response unless the app
			// takes it over (see strictClosing).
			c.info.upgrade.Store(true)
		}
		switch {
		case v.rule == ruleNone:
			return n, err
		case v.body:
			c.failed = bodyError{v.rule}
			c.info.close.Store(true)
			c.s.logRefusal(v.rule, c.RemoteAddr())
			return v.cut, c.failed
		}
		c.pending = v.rule
		if l := c.sc.requestLine(p[:n]); l != nil {
			c.line = string(l) // for the access log
		}
		if v.cut > 0 {
			return v.cut, nil
		}
	}
}

// refuse answers the pending refusal, logs it, and lets the client read
// the answer before the connection closes.
func (c *strictConn) refuse() error {
	r := c.pending
	c.pending = ruleNone
	c.failed = errGone
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Conn.Write(refusalResponses[r])
	c.s.logRefusal(r, c.RemoteAddr())
	if c.s.access != nil && (c.s.slot == nil || c.s.slot.Flags.Load()&scoreboard.FlagAccessLog != 0) {
		c.s.access.refused(c.RemoteAddr(), c.line, rules[r].status, time.Now())
	}
	// Closing with unread bytes (the rest of the refused request) would
	// reset the connection, and the client might lose the answer: close
	// our side for writing, and read what comes for a moment.
	c.CloseWrite()
	c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
	var buf [512]byte
	for total := 0; total < lingerBytes; {
		n, err := c.Conn.Read(buf[:])
		total += n
		if err != nil {
			break
		}
	}
	return errGone
}

const (
	lingerTime  = 500 * time.Millisecond
	lingerBytes = 256 << 10
)

// strictClosing reports whether the response to r must close its
// connection: r is the upgrade (or CONNECT) after which the scanner stopped
// looking, and the app did not take the connection over.
func strictClosing(ci *connInfo, r *http.Request) bool {
	return ci.upgrade.Load() && (r.Method == http.MethodConnect || r.Header["Upgrade"] != nil)
}

// connInfoFor is the connInfo of a connection: the one inside it when it
// is a strict connection.
func connInfoFor(c net.Conn) *connInfo {
	switch c := c.(type) {
	case *strictRFConn:
		return &c.info
	case *strictConn:
		return &c.info
	case *strictTLSConn:
		return &c.info
	}
	return &connInfo{}
}

// refusalLines bounds the error-log lines about refused requests, per
// second and worker; the next line says how many went unlogged.
const refusalLines = 10

// refusalLog rate-limits the error-log lines of refusals.
type refusalLog struct {
	mu      sync.Mutex
	sec     int64
	n       int
	dropped int
}

func (s *server) logRefusal(r rule, remote net.Addr) {
	l := &s.refusals
	now := time.Now().Unix()
	l.mu.Lock()
	if now != l.sec {
		l.sec, l.n = now, 0
	}
	l.n++
	if l.n > refusalLines {
		l.dropped++
		l.mu.Unlock()
		return
	}
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	from := "-"
	if remote != nil {
		from = remote.String()
		if from == "" || from == "@" {
			from = "-"
		}
	}
	msg := fmt.Sprintf("starlight: request refused: %s (%d, from %s)", r, rules[r].status, from)
	if dropped > 0 {
		msg += "; " + strconv.Itoa(dropped) + " more refused before, not logged"
	}
	s.logger.Print(msg)
}

// refused writes the access-log line of a refused request: the request
// line if it was read whole, else "-", and no size, referer or agent.
func (a *accessLog) refused(remote net.Addr, line string, status int, t time.Time) {
	bp := linePool.Get().(*[]byte)
	b := (*bp)[:0]
	host := "-"
	if remote != nil {
		host = remote.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" || host == "@" {
			host = "unix" // a unix-socket client, as appendLine says it
		}
	}
	b = append(b, host...)
	b = append(b, " - - ["...)
	b = t.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	if len(line) == 0 {
		b = append(b, '-')
	} else {
		b = appendEscaped(b, line)
	}
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " - \"-\" \"-\"\n"...)
	a.f.Write(b)
	*bp = b
	linePool.Put(bp)
}
