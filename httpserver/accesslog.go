package httpserver

import (
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// accessLog writes Apache combined log lines, each with one write(2), so
// lines from concurrent requests and from other workers never interleave.
type accessLog struct {
	f *os.File
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// log writes: host - user [time] "request" status size "referer" "agent"
func (a *accessLog) log(r *http.Request, status int, size int64, t time.Time, tr *trust) {
	bp := linePool.Get().(*[]byte)
	host, _ := tr.client(r)
	b := appendLine((*bp)[:0], r, host, status, size, t)
	a.f.Write(b)
	*bp = b
	linePool.Put(bp)
}

// appendCombined appends the line of r, from its peer.
func appendCombined(b []byte, r *http.Request, status int, size int64, t time.Time) []byte {
	return appendLine(b, r, peerHost(r.RemoteAddr), status, size, t)
}

// appendLine appends the line of r from host (a client on a unix socket
// is "unix": its peer has no address).
func appendLine(b []byte, r *http.Request, host string, status int, size int64, t time.Time) []byte {
	if host == "" {
		host = "unix"
	}
	b = append(b, host...)
	b = append(b, " - "...)
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		b = appendEscaped(b, u)
	} else {
		b = append(b, '-')
	}
	b = append(b, " ["...)
	b = t.AppendFormat(b, "02/Jan/2006:15:04:05 -0700")
	b = append(b, "] \""...)
	b = appendEscaped(b, r.Method)
	b = append(b, ' ')
	b = appendEscaped(b, r.RequestURI)
	b = append(b, ' ')
	b = appendEscaped(b, r.Proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if size > 0 && r.Method != http.MethodHead { // net/http sends no body to HEAD
		b = strconv.AppendInt(b, size, 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, " \""...)
	b = appendEscaped(b, orDash(r.Header.Get("Referer")))
	b = append(b, "\" \""...)
	b = appendEscaped(b, orDash(r.Header.Get("User-Agent")))
	b = append(b, "\"\n"...)
	return b
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendEscaped appends s with quotes, backslashes and control bytes
// escaped as Apache does, so a hostile header cannot forge a log line.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}
