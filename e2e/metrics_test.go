package e2e

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// metricsOf fetches /metrics and reads its samples: "name{labels}" -> value.
func metricsOf(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	body := mustFetch(t, newClient(false), url)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			t.Fatalf("/metrics: bad sample %q", line)
		}
		out[line[:i]] = v
	}
	return out, body
}

// /metrics counts exactly the requests sent, across recycles and a
// reload, and its total never goes backwards meanwhile; promtool accepts
// the exposition.
func TestMetricsCountRequests(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "sl.pid")
	maddr := "127.0.0.1:" + itoa(freePort(t))
	url := "http://" + maddr + "/metrics"
	s := start(t, options{args: []string{"--quiet", "--workers", "2", "--max-reqs-per-child", "4",
		"--pid", pidFile, "--metrics-listen", maddr}, ready: 2})

	// A scraper, all along: the total never decreases, never passes
	// what was sent.
	var mu sync.Mutex
	sent := 0
	stop := make(chan struct{})
	var scraper sync.WaitGroup
	scrapes := 0
	scraper.Go(func() {
		last := 0.0
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			_, body, err := fetch(newClient(false), url)
			if err != nil {
				t.Errorf("scrape: %v", err)
				return
			}
			for _, l := range strings.Split(body, "\n") {
				if v, ok := strings.CutPrefix(l, "starlight_requests_total "); ok {
					n, _ := strconv.ParseFloat(v, 64)
					mu.Lock()
					max := sent
					mu.Unlock()
					if n < last || n > float64(max) {
						t.Errorf("starlight_requests_total %v after %v, with %d requests sent", n, last, max)
					}
					last = n
					scrapes++
				}
			}
		}
	})
	send := func(n int) {
		for range n {
			mu.Lock()
			sent++
			mu.Unlock()
			if _, _, err := s.whoami(s.client); err != nil {
				t.Fatalf("request: %v", err)
			}
		}
	}
	send(15) // three recycles at 4 requests each
	if code, out, errOut := runStarlight(t, "", "ctl", "--pid", pidFile, "reload"); code != 0 {
		t.Fatalf("ctl reload: exit %d\n%s%s", code, out, errOut)
	}
	send(7)
	var m map[string]float64
	var body string
	eventually(t, 5*time.Second, "starlight_requests_total 22 and 2 idle workers", func() bool {
		m, body = metricsOf(t, url)
		return m["starlight_requests_total"] == 22 && m[`starlight_workers{state="idle"}`] == 2
	})
	close(stop)
	scraper.Wait()
	t.Logf("%d scrapes", scrapes)
	if m["starlight_worker_recycles_total"] < 3 || m[`starlight_reloads_total{result="finished"}`] != 1 ||
		m["starlight_generation"] != 2 || m["starlight_target_workers"] != 2 {
		t.Errorf("/metrics after 22 requests, recycles and a reload:\n%s", body)
	}
	var perWorker float64
	for _, pid := range s.workers() {
		found := false
		for k, v := range m {
			if strings.HasPrefix(k, `starlight_worker_requests_total{pid="`+itoa(pid)+`"`) {
				perWorker += v
				found = true
			}
		}
		if !found {
			t.Errorf("/metrics has no requests of worker %d:\n%s", pid, body)
		}
	}
	if perWorker > 7 {
		t.Errorf("the live workers of generation 2 served %v requests, of 7", perWorker)
	}
	// Every one of the 22 answered 200, and took some time.
	if m[`starlight_responses_total{code="2xx"}`] != 22 || m[`starlight_responses_total{code="5xx"}`] != 0 ||
		m["starlight_request_duration_seconds_count"] != 22 ||
		m[`starlight_request_duration_seconds_bucket{le="+Inf"}`] != 22 ||
		m["starlight_request_duration_seconds_sum"] <= 0 {
		t.Errorf("/metrics: the responses and their durations are not those of 22 requests:\n%s", body)
	}
	prev := 0.0
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "starlight_request_duration_seconds_bucket{") {
			v := m[l[:strings.LastIndexByte(l, ' ')]]
			if v < prev {
				t.Errorf("/metrics: histogram buckets not cumulative at %q", l)
			}
			prev = v
		}
	}
	if !strings.Contains(body, `starlight_build_info{version="`) || !strings.Contains(body, "# TYPE starlight_requests_total counter") {
		t.Errorf("/metrics lacks build info or types:\n%s", body)
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool is not installed: the exposition is not checked by it (CI installs it)")
	} else {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, body)
		}
	}
	s.stop(t)
}
