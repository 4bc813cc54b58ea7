package httpserver

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
)

// logBuffer is a logger's output the test reads while the server writes.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) count(re *regexp.Regexp) int { return len(re.FindAllStringIndex(l.String(), -1)) }

// timedServer serves h with set on a loopback port, with a scoreboard
// slot as a worker has, and its log in a buffer.
func timedServer(t *testing.T, h http.Handler, set settings) (string, *server, *logBuffer, chan error) {
	t.Helper()
	board := readyBoard(t, 1)
	s := newServer(h, set)
	log := new(logBuffer)
	s.logger.SetOutput(log)
	s.board, s.slot = board, board.Slot(0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.listeners = []net.Listener{ln}
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		errc <- s.serve(nil)
		close(done)
	}()
	t.Cleanup(func() {
		s.drain(0)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return "http://" + ln.Addr().String(), s, log, errc
}

func getBody(t *testing.T, url string) (int, string, error) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// A request over --request-timeout has its context cancelled, once, and
// is logged once; a handler that honours it ends. The worker serves on.
func TestRequestTimeoutCancelsContext(t *testing.T) {
	mux := http.NewServeMux()
	var logged atomic.Pointer[logBuffer]
	mux.HandleFunc("/wait", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
			// The line saying why comes before the handler can end.
			if !strings.Contains(logged.Load().String(), "GET /wait still running") {
				io.WriteString(w, "cancelled before the line was logged: ")
			}
			fmt.Fprintf(w, "cancelled after %d ms: %v", time.Since(start).Milliseconds(), r.Context().Err())
		case <-time.After(10 * time.Second):
			io.WriteString(w, "never cancelled")
		}
	})
	mux.HandleFunc("/quick", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "quick") })
	url, s, log, _ := timedServer(t, mux, settings{timeout: 5 * time.Second, keepaliveTimeout: time.Second, gracefulTimeout: time.Second,
		requestTimeout: 300 * time.Millisecond})
	logged.Store(log)
	start := time.Now()
	code, body, err := getBody(t, url+"/wait")
	took := time.Since(start)
	if err != nil || code != 200 || !strings.HasPrefix(body, "cancelled after") || !strings.HasSuffix(body, "context canceled") {
		t.Fatalf("%d %q %v", code, body, err)
	}
	// A tenth of the timeout per tick, up to two ticks late.
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("the request ended after %s with --request-timeout 300ms", took)
	}
	re := regexp.MustCompile(`starlight: worker \d+: GET /wait still running after (\d+)ms \(--request-timeout 300ms\): its context is cancelled\n`)
	if n := log.count(re); n != 1 {
		t.Errorf("%d lines for the request over its time, want 1:\n%s", n, log)
	}
	if code, body, err := getBody(t, url+"/quick"); code != 200 || body != "quick" {
		t.Errorf("the worker serves on: %d %q %v", code, body, err)
	}
	if s.draining.Load() || strings.Contains(log.String(), "goroutine") {
		t.Errorf("a request that ended is no cause to replace the worker:\n%s", log)
	}
}

// A handler that ignores its cancelled context and still runs
// --graceful-timeout later: the worker logs its stacks and drains (the
// slot says why), its other requests finish, and it exits with the hung
// one cut.
func TestRequestTimeoutHungDrains(t *testing.T) {
	stuck := make(chan struct{})
	otherIn := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/stuck", func(w http.ResponseWriter, r *http.Request) {
		<-stuck // ignores its context
	})
	mux.HandleFunc("/other", func(w http.ResponseWriter, r *http.Request) {
		close(otherIn)
		time.Sleep(200 * time.Millisecond) // shorter than --request-timeout
		io.WriteString(w, "other done")
	})
	url, s, log, errc := timedServer(t, mux, settings{timeout: 5 * time.Second, keepaliveTimeout: time.Second, gracefulTimeout: 500 * time.Millisecond,
		requestTimeout: 300 * time.Millisecond})
	t.Cleanup(func() {
		// The stuck handler ends before the board goes (cleanups run
		// last first): its end is the slot's last write, and, cut, it
		// does not count as served.
		close(stuck)
		waitFor(t, "the stuck handler's end", func() bool { return s.slot.Active.Load() == 0 })
		if n := s.slot.Requests.Load(); n != 1 {
			t.Errorf("%d requests served, want 1 (the cut one does not count)", n)
		}
	})
	stuckErr := make(chan error, 1)
	go func() {
		_, _, err := getBody(t, url+"/stuck")
		stuckErr <- err
	}()
	waitFor(t, "the cancel logged", func() bool { return strings.Contains(log.String(), "GET /stuck still running after") })
	otherRes := make(chan string, 1)
	go func() {
		code, body, err := getBody(t, url+"/other")
		otherRes <- fmt.Sprint(code, " ", body, " ", err)
	}()
	<-otherIn
	waitFor(t, "the drain, for a hung request", func() bool { return s.slot.ExitReason.Load() == scoreboard.ExitHung })
	re := regexp.MustCompile(`starlight: worker \d+: GET /stuck still running after \d+ms, 500ms \(--graceful-timeout\) after its context was cancelled: the worker drains and is replaced; its goroutine stacks:\ngoroutine \d+ `)
	if !re.MatchString(log.String()) {
		t.Errorf("no line with the stacks:\n%s", log)
	}
	if !strings.Contains(log.String(), "httpserver.TestRequestTimeoutHungDrains.func1") {
		t.Errorf("the stacks do not show the stuck handler:\n%s", log)
	}
	if got := <-otherRes; got != "200 other done <nil>" {
		t.Errorf("the other request: %s", got)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the worker does not finish with the hung request in flight")
	}
	if err := <-stuckErr; err == nil {
		t.Error("the hung request was answered")
	}
	if got := s.slot.Cut.Load(); got != 1 {
		t.Errorf("%d requests cut, want the hung one", got)
	}
}

// --log-slow logs the requests that took longer, with their status.
func TestLogSlow(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(150 * time.Millisecond)
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("/quick", func(w http.ResponseWriter, r *http.Request) {})
	url, _, log, _ := timedServer(t, mux, settings{timeout: 5 * time.Second, keepaliveTimeout: time.Second, gracefulTimeout: time.Second,
		logSlow: 100 * time.Millisecond})
	for _, p := range []string{"/quick", "/slow", "/quick"} {
		if _, _, err := getBody(t, url+p); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the slow line", func() bool { return strings.Contains(log.String(), "slow request") })
	re := regexp.MustCompile(`^\S+ \S+ starlight: worker \d+: slow request: GET /slow 202 in 1\d\dms \(--log-slow 100ms\)\n$`)
	if !re.MatchString(log.String()) {
		t.Errorf("log:\n%s", log)
	}
}

// With the options off, the app gets net/http's request as it is.
func TestRequestTimeoutOffKeepsRequest(t *testing.T) {
	var seen *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r })
	s := newServer(h, settings{timeout: time.Second, keepaliveTimeout: time.Second})
	r, _ := http.NewRequest("GET", "/", nil)
	s.ServeHTTP(discardWriter{http.Header{}}, r)
	if seen != r {
		t.Error("the request was copied with the options off")
	}
	if s.tracker.onTick != nil {
		t.Error("the sweep looks at requests with --request-timeout off")
	}
}

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
