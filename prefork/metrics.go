package prefork

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/starlight-go/starlight/internal/addr"
	"github.com/starlight-go/starlight/internal/version"
	"github.com/starlight-go/starlight/status"
)

// --metrics-listen: the master serves the pool's numbers at /metrics in
// the Prometheus text exposition format, from its snapshot (the
// scoreboard), never from a worker: a scrape costs the workers nothing.

// metricsServer is the master's /metrics endpoint.
type metricsServer struct {
	m     *Master
	ln    net.Listener
	path  string      // a unix socket's file, to remove; "" otherwise
	bound os.FileInfo // that file as bound
	srv   *http.Server

	mu sync.Mutex
	// Counted from events: reloads by result.
	reloadsFailed uint64
	// The highest total served: requests a killed worker had in flight
	// count while it runs and not after; the counter does not go back.
	requests uint64
	// The highest HTTP counts seen, each apart, for the same reason.
	http status.HTTPStats
}

// setupMetrics binds --metrics-listen (before the privileges go: a port
// below 1024 is allowed); it is served once the pool is there.
func (m *Master) setupMetrics() error {
	if m.cfg.MetricsListen == "" || m.cfg.Workers == 0 {
		return nil
	}
	a, err := addr.Parse(m.cfg.MetricsListen)
	if err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	ms := &metricsServer{m: m}
	switch a.Kind {
	case addr.TCP:
		ms.ln, err = net.Listen("tcp", a.String())
	case addr.Unix:
		if _, err = clearStaleSocket(a.Path, m.fileOwner()); err == nil {
			ms.ln, err = net.Listen("unix", a.Path)
			ms.path = a.Path
		}
	case addr.Abstract:
		ms.ln, err = net.Listen("unix", "@"+a.Path)
	}
	if err != nil {
		return fmt.Errorf("--metrics-listen %s: %w", m.cfg.MetricsListen, unwrapOp(err))
	}
	if ul, ok := ms.ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false) // removed by close, once
	}
	if ms.path != "" {
		ms.bound, _ = os.Lstat(ms.path)
		if err := m.id.chownSocket(&listener{path: ms.path, bound: ms.bound}); err != nil {
			os.Remove(ms.path)
			ms.ln.Close()
			return fmt.Errorf("--metrics-listen: %w", err)
		}
	}
	m.metrics = ms
	m.atExit(ms.close)
	return nil
}

// startMetrics serves /metrics.
func (m *Master) startMetrics() error {
	ms := m.metrics
	if ms == nil {
		return nil
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", ms.serve)
	ms.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		ErrorLog:          nil,
	}
	go ms.srv.Serve(ms.ln)
	m.info("metrics at http://%s/metrics", metricsName(ms))
	return nil
}

func metricsName(ms *metricsServer) string {
	if ms.ln.Addr().Network() == "unix" {
		return "unix:" + ms.ln.Addr().String() + ":"
	}
	return ms.ln.Addr().String()
}

func (ms *metricsServer) close() {
	if ms.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		ms.srv.Shutdown(ctx)
		cancel()
	}
	ms.ln.Close()
	if ms.path != "" {
		// Not a file another server has put there since.
		if now, err := os.Lstat(ms.path); err == nil && ms.bound != nil && os.SameFile(now, ms.bound) {
			os.Remove(ms.path)
		}
	}
}

// event counts what the metrics count from events.
func (ms *metricsServer) event(e status.Event) {
	if e.Kind == status.EventReloadFailed {
		ms.mu.Lock()
		ms.reloadsFailed++
		ms.mu.Unlock()
	}
}

func (ms *metricsServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	s := ms.m.Snapshot()
	ms.mu.Lock()
	ms.requests = max(ms.requests, s.Requests)
	ms.http = highest(ms.http, s.HTTP)
	s.HTTP = ms.http
	total, failed := ms.requests, ms.reloadsFailed
	ms.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	io.WriteString(w, exposition(s, total, failed))
}

// highest is the higher of a's and b's counts, each apart.
func highest(a, b status.HTTPStats) status.HTTPStats {
	for i := range a.Classes {
		a.Classes[i] = max(a.Classes[i], b.Classes[i])
	}
	a.Panics = max(a.Panics, b.Panics)
	for i := range a.Latency {
		a.Latency[i] = max(a.Latency[i], b.Latency[i])
	}
	a.LatencySum = max(a.LatencySum, b.LatencySum)
	return a
}

// exposition is the metrics of snapshot s in the Prometheus text format.
func exposition(s status.Snapshot, total, reloadsFailed uint64) string {
	var b strings.Builder
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	ws := append([]status.WorkerInfo(nil), s.Workers...)
	sort.Slice(ws, func(i, j int) bool { return ws[i].PID < ws[j].PID })

	metric("starlight_requests_total", "counter", "Requests served by every worker, past and present.")
	fmt.Fprintf(&b, "starlight_requests_total %d\n", total)
	metric("starlight_worker_requests_total", "counter", "Requests served by each live worker.")
	for _, w := range ws {
		fmt.Fprintf(&b, "starlight_worker_requests_total{pid=\"%d\",generation=\"%d\"} %d\n", w.PID, w.Generation, w.Requests)
	}
	inFlight := 0
	states := map[status.WorkerState]int{}
	for _, w := range ws {
		inFlight += w.Active + w.Hijacked // hijacked: websockets, counted apart in the slot
		states[w.State]++
	}
	metric("starlight_requests_in_flight", "gauge", "Requests being served now, websockets included.")
	fmt.Fprintf(&b, "starlight_requests_in_flight %d\n", inFlight)
	metric("starlight_workers", "gauge", "Live workers by state.")
	for _, st := range []status.WorkerState{status.StateStarting, status.StateIdle, status.StateBusy, status.StateExiting} {
		fmt.Fprintf(&b, "starlight_workers{state=%q} %d\n", st, states[st])
	}
	metric("starlight_target_workers", "gauge", "The number of workers the pool is kept at.")
	fmt.Fprintf(&b, "starlight_target_workers %d\n", s.Target)
	metric("starlight_worker_recycles_total", "counter", "Workers retired after their request budget or harakiri.")
	fmt.Fprintf(&b, "starlight_worker_recycles_total %d\n", s.Recycles)
	metric("starlight_worker_crashes_total", "counter", "Workers that exited with an error or a signal.")
	fmt.Fprintf(&b, "starlight_worker_crashes_total %d\n", s.Crashes)
	metric("starlight_reloads_total", "counter", "Slow restarts ended, by result.")
	fmt.Fprintf(&b, "starlight_reloads_total{result=\"finished\"} %d\n", s.Reloads)
	fmt.Fprintf(&b, "starlight_reloads_total{result=\"failed\"} %d\n", reloadsFailed)
	metric("starlight_generation", "gauge", "The newest generation of the app started.")
	fmt.Fprintf(&b, "starlight_generation %d\n", s.Generation)
	metric("starlight_worker_resident_memory_bytes", "gauge", "Resident memory of each live worker.")
	for _, w := range ws {
		fmt.Fprintf(&b, "starlight_worker_resident_memory_bytes{pid=\"%d\",generation=\"%d\"} %d\n", w.PID, w.Generation, w.RSS)
	}
	metric("starlight_start_time_seconds", "gauge", "When the master started, in seconds since the epoch.")
	fmt.Fprintf(&b, "starlight_start_time_seconds %s\n", strconv.FormatFloat(float64(s.Started.UnixMilli())/1000, 'f', 3, 64))
	metric("starlight_responses_total", "counter", "Responses by status class, from every worker past and present (websockets and 1xx not counted).")
	for i, class := range []string{"2xx", "3xx", "4xx", "5xx"} {
		fmt.Fprintf(&b, "starlight_responses_total{code=%q} %d\n", class, s.HTTP.Classes[i])
	}
	metric("starlight_panics_total", "counter", "Panics in the app's handlers the workers recovered from (each answered 500 or cut its response).")
	fmt.Fprintf(&b, "starlight_panics_total %d\n", s.HTTP.Panics)
	metric("starlight_request_duration_seconds", "histogram", "How long requests took, from the request's start to the handler's return, in every worker past and present.")
	var cum uint64
	for i, c := range s.HTTP.Latency {
		cum += c
		le := "+Inf"
		if i < len(s.HTTP.Latency)-1 {
			le = strconv.FormatFloat(status.LatencyBound(i).Seconds(), 'g', -1, 64)
		}
		fmt.Fprintf(&b, "starlight_request_duration_seconds_bucket{le=%q} %d\n", le, cum)
	}
	fmt.Fprintf(&b, "starlight_request_duration_seconds_sum %s\n", strconv.FormatFloat(s.HTTP.LatencySum.Seconds(), 'f', 6, 64))
	fmt.Fprintf(&b, "starlight_request_duration_seconds_count %d\n", cum)
	metric("starlight_build_info", "gauge", "Always 1: the starlight release and the Go version it was built with.")
	fmt.Fprintf(&b, "starlight_build_info{version=%q,go_version=%q} 1\n", version.Version, runtime.Version())
	return b.String()
}
