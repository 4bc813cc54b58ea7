// Command wsapp is the websocket application the end-to-end tests serve,
// built on gorilla/websocket as a new user's app would be: /ws greets with
// the worker's pid and echoes, and closes with 1001 (Going Away) when the
// worker starts draining, unless WSAPP_IGNORE_DRAIN is set.
package main

import (
	"bufio"
	"fmt"
	"log"
	"net/http"
	"os"
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
	if err := httpserver.Serve(mux); err != nil {
		log.Fatal(err)
	}
}
