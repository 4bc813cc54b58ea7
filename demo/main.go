// Command demo is a small app that shows starlight off: which worker
// served you, slow and streaming responses, an echo, a panic and harakiri.
//
//	go run ./cmd/starlight ./demo
package main

import (
	"fmt"
	"html"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/starlight-go/starlight/httpserver"
)

var served atomic.Uint64 // requests this worker process has served

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)
	mux.HandleFunc("GET /sleep", sleep)
	mux.HandleFunc("GET /stream", stream)
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("GET /panic", func(http.ResponseWriter, *http.Request) {
		panic("the demo panics on purpose")
	})
	mux.HandleFunc("GET /harakiri", func(w http.ResponseWriter, r *http.Request) {
		httpserver.Harakiri(r)
		fmt.Fprintf(w, "worker %d will exit after this response; the master starts another\n", os.Getpid())
	})
	if err := httpserver.Serve(counting(mux)); err != nil {
		log.Fatal(err)
	}
}

func counting(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		h.ServeHTTP(w, r)
	})
}

func index(w http.ResponseWriter, r *http.Request) {
	gen := os.Getenv("STARLIGHT_GENERATION")
	if gen == "" {
		gen = "-"
	}
	if r.URL.Query().Has("text") || r.Header.Get("Accept") == "text/plain" {
		fmt.Fprintf(w, "pid %d generation %s requests %d\n", os.Getpid(), gen, served.Load())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html>
<title>starlight demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}code{background:#eee;padding:0 .3em}</style>
<h1>Served by worker %d</h1>
<p>Generation %s, request %d of this worker, environment <code>%s</code>.
Reload the page: another worker process may answer.</p>
<ul>
<li><a href="/sleep?ms=2000">/sleep?ms=2000</a>: a slow request (watch it busy in the dashboard)</li>
<li><a href="/stream">/stream</a>: a streamed response, one line every 200 ms</li>
<li><code>curl -d hello localhost:5000/echo</code>: the request, echoed</li>
<li><a href="/panic">/panic</a>: a handler that panics (500, the worker lives on)</li>
<li><a href="/harakiri">/harakiri</a>: the worker exits after answering, and is replaced</li>
</ul>
<p>You asked for <code>%s</code>.</p>
`, os.Getpid(), html.EscapeString(gen), served.Load(), html.EscapeString(httpserver.Env()), html.EscapeString(r.URL.String()))
}

func sleep(w http.ResponseWriter, r *http.Request) {
	ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
	if err != nil || ms < 0 || ms > 60000 {
		http.Error(w, "want ?ms=0..60000", http.StatusBadRequest)
		return
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		fmt.Fprintf(w, "slept %d ms in worker %d\n", ms, os.Getpid())
	case <-r.Context().Done():
	}
}

func stream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(w, "line %d from worker %d\n", i, os.Getpid())
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(200 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s %s %s\n", r.Method, r.URL.RequestURI(), r.Proto)
	for k, vs := range r.Header {
		for _, v := range vs {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(w)
	io.Copy(w, io.LimitReader(r.Body, 1<<20))
}
