// Command wsapp is the websocket application the end-to-end tests serve,
// built on gorilla/websocket as a new user's app would be: /ws greets with
// the worker's pid and echoes, and closes with 1001 (Going Away) when the
// worker starts draining, unless WSAPP_IGNORE_DRAIN is set.
//
// With WSAPP_SERVE_SERVER set it serves an http.Server of its own through
// httpserver.ServeServer: an ErrorLog that prefixes "wsapp-errorlog: ",
// MaxHeaderBytes of 256 KiB, and, with WSAPP_CERTS set to a directory, a
// TLSConfig (TLS 1.3 at least) whose GetCertificate serves NAME.pem and
// NAME.key from there for the server name NAME.
package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
	"github.com/starlight-go/starlight/httpserver"
)

var upgrader = websocket.Upgrader{}

func main() {
	ignoreDrain := os.Getenv("WSAPP_IGNORE_DRAIN") != ""
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%d %s\n", os.Getpid(), os.Getenv("STARLIGHT_GENERATION"))
	})
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // the upgrader answered
		}
		defer c.Close()
		c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "hello %d", os.Getpid()))
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				t, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				if c.WriteMessage(t, msg) != nil {
					return
				}
			}
		}()
		drain := httpserver.Draining()
		if ignoreDrain {
			drain = nil
		}
		select {
		case <-done:
		case <-drain:
			// Going Away: the client reconnects, to a worker that is not
			// draining. Wait for its close frame, a moment at most.
			c.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "worker draining"), time.Now().Add(time.Second))
			select {
			case <-done:
			case <-time.After(time.Second):
			}
		}
	})
	// /upgrade switches protocols the way coder/websocket does (headers,
	// WriteHeader(101), then Hijack) to a line echo.
	mux.HandleFunc("GET /upgrade", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "echo")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			log.Printf("wsapp: hijack: %v", err)
			return
		}
		defer c.Close()
		sc := bufio.NewScanner(brw)
		for sc.Scan() {
			fmt.Fprintf(c, "%s\n", sc.Text())
		}
	})
	mux.HandleFunc("GET /headers", func(w http.ResponseWriter, r *http.Request) {
		n := 0
		for k, vs := range r.Header {
			for _, v := range vs {
				n += len(k) + len(v)
			}
		}
		fmt.Fprintf(w, "%d header bytes %s\n", n, r.Proto)
	})
	mux.HandleFunc("GET /client", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "client=%s remote=%s scheme=%s proto=%s pid=%d\n",
			httpserver.ClientIP(r), r.RemoteAddr, httpserver.Scheme(r), r.Proto, os.Getpid())
	})
	mux.HandleFunc("GET /sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		fmt.Fprintf(os.Stderr, "wsapp: worker %d sleeping %d ms\n", os.Getpid(), ms)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
			fmt.Fprintf(w, "slept %d %s pid=%d\n", ms, r.Proto, os.Getpid())
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic("wsapp panics on purpose")
	})
	if addr := os.Getenv("WSAPP_LISTEN_ITSELF"); addr != "" {
		// An app not converted yet: it listens by itself.
		log.Fatal(http.ListenAndServe(addr, mux))
	}
	if os.Getenv("WSAPP_SERVE_SERVER") == "" {
		if err := httpserver.Serve(mux); err != nil {
			log.Fatal(err)
		}
		return
	}
	srv := &http.Server{
		Handler:        mux,
		ErrorLog:       log.New(os.Stderr, "wsapp-errorlog: ", 0),
		MaxHeaderBytes: 256 << 10,
	}
	if dir := os.Getenv("WSAPP_CERTS"); dir != "" {
		srv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS13,
			GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
				name := filepath.Base(hello.ServerName)
				c, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"))
				if err != nil {
					return nil, err
				}
				return &c, nil
			},
		}
	}
	if err := httpserver.ServeServer(srv); err != nil {
		log.Fatal(err)
	}
}
