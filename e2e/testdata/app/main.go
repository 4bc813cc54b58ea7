// Command app is the application the end-to-end tests serve: small
// endpoints that report which worker answered and make a worker sleep,
// crash or exit.
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starlight-go/starlight/httpserver"
	"github.com/starlight-go/starlight/internal/strictcases"
)

// leaked is what /leak keeps: memory a worker never gives back.
var leaked struct {
	sync.Mutex
	blocks [][]byte
}

func main() {
	if f := os.Getenv("TESTAPP_FAIL_FILE"); f != "" {
		if _, err := os.Stat(f); err == nil {
			fmt.Fprintln(os.Stderr, "failing at start")
			os.Exit(1)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d %s\n", os.Getpid(), os.Getenv("STARLIGHT_GENERATION"))
	})
	mux.HandleFunc("GET /sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60000 {
			http.Error(w, "want ?ms=0..60000", http.StatusBadRequest)
			return
		}
		// The tests wait for this line to know the request is in flight.
		fmt.Fprintf(os.Stderr, "testapp: worker %d sleeping %d ms\n", os.Getpid(), ms)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprintf(w, "%d slept %d\n", os.Getpid(), ms)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /hang", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 600000 {
			http.Error(w, "want ?ms=0..600000", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(os.Stderr, "testapp: worker %d hanging %d ms\n", os.Getpid(), ms)
		time.Sleep(time.Duration(ms) * time.Millisecond) // deaf to its context
		fmt.Fprintf(w, "%d hung %d\n", os.Getpid(), ms)
	})
	mux.HandleFunc("GET /crash", func(w http.ResponseWriter, r *http.Request) {
		// A panic in a goroutine of the request's, which nothing
		// recovers: the worker dies with the request in flight.
		go func() {
			time.Sleep(100 * time.Millisecond)
			panic(fmt.Sprintf("testapp: worker %d crashes on purpose", os.Getpid()))
		}()
		time.Sleep(10 * time.Second)
	})
	mux.HandleFunc("GET /exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.URL.Query().Get("code"))
		if err != nil {
			http.Error(w, "want ?code=N", http.StatusBadRequest)
			return
		}
		os.Exit(code)
	})
	mux.HandleFunc("GET /harakiri", func(w http.ResponseWriter, r *http.Request) {
		httpserver.Harakiri(r)
		fmt.Fprintf(w, "%d harakiri\n", os.Getpid())
	})
	mux.HandleFunc("GET /tls", func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			fmt.Fprintln(w, "plain")
			return
		}
		peer := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			peer = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "tls %s peer %s\n", tls.VersionName(r.TLS.Version), peer)
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic(fmt.Sprintf("testapp: worker %d panics on purpose", os.Getpid()))
	})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			return
		}
		fmt.Fprintf(w, "%d read %d\n", os.Getpid(), n)
	})
	mux.HandleFunc("GET /leak", func(w http.ResponseWriter, r *http.Request) {
		mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
		if err != nil || mb < 1 || mb > 1024 {
			http.Error(w, "want ?mb=1..1024", http.StatusBadRequest)
			return
		}
		b := make([]byte, mb<<20)
		for i := range len(b) / 4096 {
			b[i*4096] = 1 // resident, not only reserved
		}
		leaked.Lock()
		leaked.blocks = append(leaked.blocks, b)
		n := len(leaked.blocks)
		leaked.Unlock()
		fmt.Fprintf(w, "%d holds %d blocks\n", os.Getpid(), n)
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getenv("STARLIGHT_ENV"))
	})
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		// n lines of stderr (default 1), each ?text or filler of ?size bytes.
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		size, _ := strconv.Atoi(r.URL.Query().Get("size"))
		n, size = min(max(n, 1), 100000), min(max(size, 0), 1<<20)
		line := r.URL.Query().Get("text")
		if line == "" {
			line = strings.Repeat("x", size)
		}
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "testapp: %d %s\n", i, line)
		}
		io.WriteString(os.Stderr, b.String())
		fmt.Fprintf(w, "%d logged %d\n", os.Getpid(), n)
	})
	// /echo/... (any method) and CONNECT answer what the handler saw of
	// the request, for the strict HTTP tests.
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/echo") && r.Method != http.MethodConnect {
			mux.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		io.WriteString(w, strictcases.Dump(r, body))
	})
	if err := httpserver.Serve(app); err != nil {
		log.Fatal(err)
	}
	if s := os.Getenv("TESTAPP_EXIT_AFTER_SERVE"); s != "" {
		// As log.Fatal(httpserver.Serve(mux)) does after a graceful exit.
		code, _ := strconv.Atoi(s)
		os.Exit(code)
	}
}
