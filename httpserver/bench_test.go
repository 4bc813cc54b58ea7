package httpserver

// Benchmarks of the worker's wrapper (server.ServeHTTP: scoreboard,
// headers, keep-alive accounting, panics, budget) against the same handler
// served by plain net/http. Run them with
//
//	go test -run '^$' -bench . -benchmem ./httpserver/
//
// BenchmarkHandler calls ServeHTTP directly with a reusable ResponseWriter:
// its allocs/op are the wrapper's own, with nothing of net/http's. The
// loopback benchmarks serve over a real TCP connection on 127.0.0.1 with a
// client that allocates nothing, so their allocs/op are the server's whole
// cost per request, net/http's included.

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
)

var (
	benchBody  = []byte("Hello, World!")
	benchCtype = []string{"text/plain"}
)

// benchHello is the handler of bench/hello: 13 bytes of text/plain.
var benchHello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header()["Content-Type"] = benchCtype
	w.Write(benchBody)
})

// benchWriter is a ResponseWriter reused from request to request.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// benchServer is the wrapper as a worker configures it for bench/run:
// keep-alive on and unlimited, no budget, a scoreboard slot.
func benchServer(b *testing.B, h http.Handler, access bool) *server {
	b.Helper()
	s := newServer(h, settings{
		timeout:          DefaultTimeout,
		keepaliveTimeout: DefaultKeepaliveTimeout,
		maxKeepaliveReqs: 0, // unlimited: one connection serves the whole benchmark
		gracefulTimeout:  5 * time.Second,
	})
	s.logger.SetOutput(io.Discard)
	// A slot of its own and another worker's, as a worker has.
	board := readyBoard(b, 2)
	s.board, s.slot = board, board.Slot(0)
	if access {
		s.slot.Flags.Store(scoreboard.FlagAccessLog)
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		s.access = &accessLog{f: f}
	}
	return s
}

// BenchmarkHandler is one request through ServeHTTP, no network: plain is
// the app's handler alone, wrapper is the same handler inside the worker's
// wrapper (the connection's context as net/http would give it).
func BenchmarkHandler(b *testing.B) {
	run := func(b *testing.B, h http.Handler, ctx context.Context) {
		req, err := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1/", nil)
		if err != nil {
			b.Fatal(err)
		}
		req.RemoteAddr = "127.0.0.1:40000"
		req.Header.Set("User-Agent", "bench")
		w := &benchWriter{h: make(http.Header)}
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, req)
			if w.n != len(benchBody) {
				b.Fatalf("wrote %d bytes", w.n)
			}
		}
	}
	b.Run("plain", func(b *testing.B) {
		run(b, benchHello, context.Background())
	})
	b.Run("wrapper", func(b *testing.B) {
		s := benchServer(b, benchHello, false)
		run(b, s, s.connContext(context.Background(), nil))
	})
	b.Run("wrapper+accesslog", func(b *testing.B) {
		s := benchServer(b, benchHello, true)
		run(b, s, s.connContext(context.Background(), nil))
	})
	// --request-timeout and --log-slow on: a context of the request's own
	// under net/http's (a cancelCtx, as net/http gives each request).
	b.Run("wrapper+request-timeout+log-slow", func(b *testing.B) {
		s := benchServer(b, benchHello, false)
		s.set.requestTimeout, s.set.logSlow = 30*time.Second, 10*time.Second
		s.watchRequests()
		parent, cancel := context.WithCancel(context.Background())
		defer cancel()
		run(b, s, s.connContext(parent, nil))
	})
}

// benchServe serves on a loopback listener until the benchmark ends: with
// plain net/http (wrapper false) or as a worker does (wrapper true).
func benchServe(b *testing.B, wrapper bool) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if !wrapper {
		srv := &http.Server{Handler: benchHello}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
		return ln.Addr().String()
	}
	s := benchServer(b, benchHello, false)
	s.listeners = []net.Listener{ln}
	done := make(chan struct{})
	go func() {
		s.serve(nil)
		close(done)
	}()
	b.Cleanup(func() {
		s.drain(0)
		<-done
	})
	return ln.Addr().String()
}

var (
	benchReq      = []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n")
	benchReqClose = []byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nConnection: close\r\n\r\n")
	benchStatus   = []byte("HTTP/1.1 200 OK\r\n")
)

// benchRoundTrip writes one request and reads its response, checking the
// status and the body, without allocating.
func benchRoundTrip(b *testing.B, c net.Conn, br *bufio.Reader, req []byte) {
	if _, err := c.Write(req); err != nil {
		b.Fatal(err)
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(line, benchStatus) {
		b.Fatalf("status line %q", line)
	}
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			b.Fatal(err)
		}
		if len(line) == 2 {
			break // the blank line ending the headers
		}
	}
	var body [16]byte
	if _, err := io.ReadFull(br, body[:len(benchBody)]); err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(body[:len(benchBody)], benchBody) {
		b.Fatalf("body %q", body[:len(benchBody)])
	}
}

// BenchmarkLoopbackKeepalive is one request on a keep-alive connection
// over 127.0.0.1, one request at a time.
func BenchmarkLoopbackKeepalive(b *testing.B) {
	for _, mode := range []struct {
		name    string
		wrapper bool
	}{{"plain", false}, {"wrapper", true}} {
		b.Run(mode.name, func(b *testing.B) {
			addr := benchServe(b, mode.wrapper)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			benchRoundTrip(b, c, br, benchReq) // the connection's first request
			b.ReportAllocs()
			for b.Loop() {
				benchRoundTrip(b, c, br, benchReq)
			}
		})
	}
}

// BenchmarkLoopbackClose is one request per connection (Connection:
// close): the cost of a connection is in every request. The client's dial
// allocates the same in both.
func BenchmarkLoopbackClose(b *testing.B) {
	for _, mode := range []struct {
		name    string
		wrapper bool
	}{{"plain", false}, {"wrapper", true}} {
		b.Run(mode.name, func(b *testing.B) {
			addr := benchServe(b, mode.wrapper)
			br := bufio.NewReaderSize(nil, 4096)
			var sink [64]byte
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				br.Reset(c)
				benchRoundTrip(b, c, br, benchReqClose)
				if n, err := br.Read(sink[:]); n != 0 || err != io.EOF {
					b.Fatalf("after the response: %d bytes, %v; want EOF", n, err)
				}
				c.Close()
			}
		})
	}
}
