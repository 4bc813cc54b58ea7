// Command hello is the app bench/run measures: one handler answering every
// request with the 13-byte text/plain body "Hello, World!". With
// BENCH_PLAIN=1 it serves with plain net/http (http.ListenAndServe on
// $BENCH_ADDR, default 127.0.0.1:5000), the baseline; otherwise it hands
// the same handler to httpserver.Serve, to run under starlight.
//
// With BENCH_CPUPROFILE=PREFIX every process (each worker, or the plain
// server) writes a CPU profile of its whole life to PREFIX.PID; the plain
// server stops on SIGTERM or SIGINT.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/starlight-go/starlight/httpserver"
)

var (
	body  = []byte("Hello, World!")
	ctype = []string{"text/plain"}
)

func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Content-Type"] = ctype
	w.Write(body)
}

func main() {
	if prefix := os.Getenv("BENCH_CPUPROFILE"); prefix != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", prefix, os.Getpid()))
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	h := http.HandlerFunc(hello)
	var err error
	if os.Getenv("BENCH_PLAIN") == "1" {
		addr := os.Getenv("BENCH_ADDR")
		if addr == "" {
			addr = "127.0.0.1:5000"
		}
		srv := &http.Server{Addr: addr, Handler: h}
		sigc := make(chan os.Signal, 1)
		signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
		go func() { <-sigc; srv.Close() }()
		if err = srv.ListenAndServe(); err == http.ErrServerClosed {
			err = nil
		}
	} else {
		err = httpserver.Serve(h)
	}
	if err != nil {
		log.Print(err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
