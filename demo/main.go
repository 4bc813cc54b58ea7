// Command demo is a small app that shows starlight off: which worker
// served you, slow and streaming responses, a websocket that moves to
// another worker on a reload, an echo, a panic and harakiri.
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

	"github.com/gorilla/websocket"
	"github.com/starlight-go/starlight/httpserver"
)

var served atomic.Uint64 // requests this worker process has served

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", index)
	mux.HandleFunc("GET /sleep", sleep)
	mux.HandleFunc("GET /stream", stream)
	mux.HandleFunc("/echo", echo)
	mux.HandleFunc("GET /ws", ws)
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
<li>A websocket to <code>/ws</code>, below: press <code>r</code> in the dashboard and it moves to a new worker</li>
<li><code>curl -d hello localhost:5000/echo</code>: the request, echoed</li>
<li><a href="/panic">/panic</a>: a handler that panics (500, the worker lives on)</li>
<li><a href="/harakiri">/harakiri</a>: the worker exits after answering, and is replaced</li>
</ul>
<p>You asked for <code>%s</code>.</p>
<pre id=ws>websocket: connecting</pre>
<script>
function connect() {
  const out = document.getElementById("ws");
  const c = new WebSocket((location.protocol == "https:" ? "wss://" : "ws://") + location.host + "/ws");
  c.onmessage = e => { out.textContent = "websocket: " + e.data; };
  // 1001, Going Away: the worker drains (a reload, a recycle); reconnect
  // at once, to a worker that does not.
  c.onclose = e => { out.textContent = "websocket: closed " + e.code + ", reconnecting"; setTimeout(connect, e.code == 1001 ? 0 : 1000); };
}
connect();
</script>
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

var upgrader = websocket.Upgrader{}

// ws ticks once a second with the worker's pid, and closes with 1001
// (Going Away) the moment the worker starts draining, so the browser
// reconnects to another worker instead of being cut when this one exits.
func ws(w http.ResponseWriter, r *http.Request) {
	c, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	gone := make(chan struct{})
	go func() { // reads, for the client's close and pings
		defer close(gone)
		for {
			if _, _, err := c.NextReader(); err != nil {
				return
			}
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; ; i++ {
		if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "tick %d from worker %d", i, os.Getpid())) != nil {
			return
		}
		select {
		case <-tick.C:
		case <-gone:
			return
		case <-httpserver.Draining():
			c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "worker draining"), time.Now().Add(time.Second))
			return
		}
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
		case <-httpserver.Draining():
			fmt.Fprintln(w, "the worker drains: the stream ends here")
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
