package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// With --workers 4, four distinct processes serve, all children of the
// master.
func TestDistinctWorkersServe(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "4"}, ready: 4})
	r := loadPIDs(s, s.client, 4, 2000, 20*time.Second, func(r *loadResult) bool { return r.distinct() >= 4 })
	if n := r.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed:\n%s", n, r.requests.Load(), &r.errs)
	}
	pids := r.pidSet()
	if len(pids) != 4 {
		t.Fatalf("after %d requests, %d distinct workers answered (%v), want 4", r.requests.Load(), len(pids), r.pids)
	}
	workers := s.workers()
	for pid := range pids {
		p, ok := readProc(pid)
		if !ok {
			t.Errorf("worker %d that answered is gone", pid)
			continue
		}
		if p.ppid != s.pid {
			t.Errorf("worker %d has parent %d, want the master %d", pid, p.ppid, s.pid)
		}
		if !slices.Contains(workers, pid) {
			t.Errorf("worker %d does not run the app (%q)", pid, p.argv0)
		}
	}
	if pids[s.pid] {
		t.Errorf("the master %d answered a request itself", s.pid)
	}
	t.Logf("%d requests to see 4 workers: %v", r.requests.Load(), r.pids)
	s.stop(t)
}

// --max-reqs-per-child recycles workers without failing a request. With
// keep-alive off a worker serves exactly its budget, as a Perl Starlight
// worker does, and leaves the connections waiting in the accept queue to
// the other workers.
func TestRecycleAfterMaxRequests(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2", "--max-reqs-per-child", "10"}, ready: 2})
	r := loadPIDs(s, s.client, 8, 200, 30*time.Second, nil)
	if got := r.requests.Load(); got != 200 {
		t.Errorf("made %d requests in 30s, want 200", got)
	}
	if n := r.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed while workers recycled:\n%s", n, r.requests.Load(), &r.errs)
	}
	// No worker serves more than 10, so 200 requests see 20 or more of
	// them; without recycling they would see 2.
	if n := r.distinct(); n < 20 {
		t.Errorf("%d distinct workers answered 200 requests with a budget of 10, want at least 20: %v", n, r.pids)
	}
	r.mu.Lock()
	for pid, n := range r.pids {
		if n > 10 {
			t.Errorf("worker %d answered %d requests with a budget of 10", pid, n)
		}
	}
	r.mu.Unlock()
	reRecycled := regexp.MustCompile(`starlight: worker \d+ recycled after (\d+) requests`)
	s.waitLog(t, 5*time.Second, reRecycled)
	for _, line := range s.lines() {
		if m := reRecycled.FindStringSubmatch(line); m != nil && m[1] != "10" {
			t.Errorf("with a budget of 10: %s", line)
		}
	}
	if n := s.count(regexp.MustCompile(`crashed|exited before it was ready`)); n > 0 {
		t.Errorf("%d workers crashed while recycling", n)
	}
	s.waitPool(t, 2, startTimeout)
	s.stop(t)
}

// A worker killed with SIGKILL is reported and replaced.
func TestKilledWorkerIsReplaced(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "3"}, ready: 3})
	before := s.workers()
	victim := before[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.waitLog(t, 5*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d crashed: killed by SIGKILL`, victim)))
	var after []int
	eventually(t, startTimeout, "the pool back to 3 ready workers without the killed one", func() bool {
		after = s.readyWorkers()
		return len(after) == 3 && len(s.workers()) == 3 && !slices.Contains(after, victim)
	})
	fresh := 0
	for _, pid := range after {
		if !slices.Contains(before, pid) {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("workers before %v, after %v: want exactly one new one", before, after)
	}
	if _, _, err := s.whoami(s.client); err != nil {
		t.Errorf("after the crash: %v", err)
	}
	s.stop(t)
}

// --spawn-interval spaces the start of workers.
func TestSpawnInterval(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "3", "--spawn-interval", "0.3"}, ready: 3})
	var stamps []time.Time
	for _, line := range s.lines() {
		if reSpawned.MatchString(line) {
			ts, ok := stampOf(line)
			if !ok {
				t.Fatalf("no time stamp in %q", line)
			}
			stamps = append(stamps, ts)
		}
	}
	if len(stamps) != 3 {
		t.Fatalf("%d workers spawned, want 3", len(stamps))
	}
	for i := 1; i < len(stamps); i++ {
		// The interval runs from the end of one spawn to the start of
		// the next; the stamps are taken after each spawn, to the ms.
		if d := stamps[i].Sub(stamps[i-1]); d < 299*time.Millisecond {
			t.Errorf("worker %d spawned %s after the one before, want about 300ms", i+1, d)
		}
	}
	s.stop(t)
}

// SIGTTIN and SIGTTOU add and remove one worker.
func TestScaleWithTTINAndTTOU(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2"}, ready: 2})
	// Signals of one kind sent before the first is handled merge into one:
	// send each only after the previous one shows in the log.
	s.signal(t, syscall.SIGTTIN)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: workers: 3$`))
	s.waitPool(t, 3, startTimeout)
	s.signal(t, syscall.SIGTTIN)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: workers: 4$`))
	four := s.waitPool(t, 4, startTimeout)

	s.signal(t, syscall.SIGTTOU)
	s.waitLogN(t, 5*time.Second, regexp.MustCompile(`starlight: workers: 3$`), 2)
	s.waitPool(t, 3, startTimeout)
	s.signal(t, syscall.SIGTTOU)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: workers: 2$`))
	s.signal(t, syscall.SIGTTOU)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: workers: 1$`))
	one := s.waitPool(t, 1, startTimeout)
	if !slices.Contains(four, one[0]) {
		t.Errorf("scaling down started a worker: %d is not one of %v", one[0], four)
	}
	if n := s.count(regexp.MustCompile(`exited \(scaled down\)`)); n != 3 {
		t.Errorf("%d workers exited as scaled down, want 3", n)
	}
	// The pool never goes below one worker.
	s.signal(t, syscall.SIGTTOU)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: workers stay at 1`))
	if pid, _, err := s.whoami(s.client); err != nil || pid != one[0] {
		t.Errorf("GET /pid: %d, %v; want worker %d", pid, err, one[0])
	}
	if got := s.workers(); len(got) != 1 {
		t.Errorf("workers %v, want 1", got)
	}
	s.stop(t)
}

// A worker whose app calls Harakiri answers, exits and is replaced.
func TestHarakiri(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2"}, ready: 2})
	before := s.workers()
	code, body, err := s.get(s.client, "/harakiri")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /harakiri: %d %q %v", code, body, err)
	}
	var pid int
	if _, err := fmt.Sscanf(body, "%d harakiri", &pid); err != nil || !slices.Contains(before, pid) {
		t.Fatalf("GET /harakiri answered %q; workers are %v", body, before)
	}
	eventually(t, 5*time.Second, fmt.Sprintf("worker %d gone", pid), func() bool { return !alive(pid) })
	s.waitLog(t, 5*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d exited by harakiri after 1 request`, pid)))
	var after []int
	eventually(t, startTimeout, "a replacement ready", func() bool {
		after = s.readyWorkers()
		return len(after) == 2 && len(s.workers()) == 2 && !slices.Contains(after, pid)
	})
	if n := s.count(regexp.MustCompile(`crashed`)); n > 0 {
		t.Errorf("harakiri counted as a crash")
	}
	s.stop(t)
}

// Recycling with keep-alive connections fails no request either.
func TestRecycleWithKeepAlive(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2", "--max-reqs-per-child", "10", "--max-keepalive-reqs", "100"}, ready: 2})
	c := newClient(true)
	defer c.CloseIdleConnections()
	r := loadPIDs(s, c, 8, 200, 30*time.Second, nil)
	if n := r.errs.count(); n > 0 || r.requests.Load() != 200 {
		t.Errorf("%d of %d requests failed while workers recycled:\n%s", n, r.requests.Load(), &r.errs)
	}
	if n := r.distinct(); n < 6 {
		t.Errorf("%d distinct workers answered 200 requests with a budget of 10: %v", n, r.pids)
	}
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: worker \d+ recycled after`))
	if n := s.count(regexp.MustCompile(`crashed|exited before it was ready`)); n > 0 {
		t.Errorf("%d workers crashed while recycling", n)
	}
	c.CloseIdleConnections() // idle keep-alive connections would slow the stop
	s.stop(t)
}

// An app whose main exits 1 after Serve returned nil (as
// log.Fatal(httpserver.Serve(h)) does) is recycled and stopped as any
// other: no crash, no backoff, and the log says what its main did.
func TestExitStatusAfterServeIsNotACrash(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2", "--max-reqs-per-child", "3"},
		env: []string{"TESTAPP_EXIT_AFTER_SERVE=1"}, ready: 2})
	r := loadPIDs(s, s.client, 2, 60, 30*time.Second, nil)
	if n := r.errs.count(); n > 0 || r.requests.Load() != 60 {
		t.Errorf("%d of %d requests failed while workers recycled:\n%s", n, r.requests.Load(), &r.errs)
	}
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: worker \d+ recycled after 3 requests, then exit status 1 \(the app's main exited non-zero after Serve returned nil\)$`))
	if n := s.count(regexp.MustCompile(`crashed|crashes in a row|next worker in`)); n > 0 {
		t.Errorf("%d log lines take the exit status after Serve for a crash", n)
	}
	// Stop once the replacements of the last recycled workers serve: a
	// worker the TERM finds still starting dies of it before Serve.
	eventually(t, 10*time.Second, "every worker spawned ready", func() bool { return s.count(reReady) == s.count(reSpawned) })
	s.stop(t)
	stopped := s.count(regexp.MustCompile(`starlight: worker \d+ exited \(stop\)`))
	served := s.count(regexp.MustCompile(`starlight: worker \d+ exited \(stop\) after \d+ requests?, then exit status 1 \(the app's main`))
	if stopped < 2 || served != stopped {
		t.Errorf("of %d workers stopped, %d said to exit with status 1 after Serve; want all, at least 2", stopped, served)
	}
}

// Workers serve every listener: two -l addresses, and -o/-p.
func TestListeners(t *testing.T) {
	t.Parallel()
	t.Run("two-listen-options", func(t *testing.T) {
		t.Parallel()
		s := start(t, options{args: []string{"--workers", "2"}, extra: 1, ready: 2})
		workers := s.workers()
		for _, addr := range []string{s.addr, s.extra[0]} {
			for range 4 {
				code, body, err := s.get(s.client, "http://"+addr+"/pid")
				var pid int
				fmt.Sscanf(body, "%d", &pid)
				if err != nil || code != http.StatusOK || !slices.Contains(workers, pid) {
					t.Fatalf("GET /pid on %s: %d %q %v; workers %v", addr, code, body, err, workers)
				}
			}
		}
		s.stop(t)
	})
	t.Run("host-and-port", func(t *testing.T) {
		t.Parallel()
		s := start(t, options{args: []string{"--workers", "1"}, hostPort: true, ready: 1})
		s.waitLog(t, time.Second, regexp.MustCompile(`serving http://`+regexp.QuoteMeta(s.addr)+`/ with 1 worker `))
		if _, _, err := s.whoami(s.client); err != nil {
			t.Fatal(err)
		}
		s.stop(t)
	})
}

// Keep-alive connections opened in a burst are spread over the workers,
// not taken all by the one that woke first.
func TestBurstOfConnectionsSpreadsOverWorkers(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2", "--max-keepalive-reqs", "1000"}, ready: 2})
	const n = 40
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	perWorker := map[int]int{}
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /pid HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("connection %d: status %d, %v", i, resp.StatusCode, err)
		}
		f := strings.Fields(string(body))
		if len(f) == 0 {
			t.Fatalf("connection %d: /pid answered %q", i, body)
		}
		pid, _ := strconv.Atoi(f[0])
		perWorker[pid]++
	}
	if len(perWorker) != 2 {
		t.Fatalf("%d connections were served by %d workers (%v), want both", n, len(perWorker), perWorker)
	}
	for pid, k := range perWorker {
		if k < n/4 {
			t.Errorf("worker %d took %d of %d connections (%v): want at least %d each", pid, k, n, perWorker, n/4)
		}
	}
	t.Logf("connections per worker: %v", perWorker)
	s.stop(t)
}

// A worker that reached its budget says so as it starts draining, and its
// replacement serves while the old one still finishes a slow request.
func TestReplacementServesWhileOldWorkerDrains(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "1", "--max-reqs-per-child", "2"}, ready: 1})
	first, _, err := s.whoami(s.client)
	if err != nil {
		t.Fatal(err)
	}
	// The second request is the last of the budget, and slow.
	slowDone := make(chan time.Time, 1)
	go func() {
		code, _, err := s.get(s.client, "/sleep?ms=3000")
		if err != nil || code != http.StatusOK {
			t.Errorf("slow request: status %d, %v", code, err)
		}
		slowDone <- time.Now()
	}()
	eventually(t, 10*time.Second, "the slow request in flight on the first worker", func() bool {
		return s.count(regexp.MustCompile(`worker \d+ spawned`)) >= 2
	})
	pid, _, err := s.whoami(s.client)
	answered := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if pid == first {
		t.Fatalf("worker %d answered past its budget of 2", pid)
	}
	if !alive(first) {
		t.Errorf("the first worker %d is gone before its slow request finished", first)
	}
	select {
	case done := <-slowDone:
		t.Errorf("the replacement answered only after the old worker's slow request (%s later)", answered.Sub(done).Round(time.Millisecond))
	default:
		<-slowDone
	}
	s.stop(t)
}

// A worker that holds many more keep-alive connections than another ready
// worker closes some after their response, so that their clients
// reconnect to the other: here every connection was opened while one
// worker served, then a second worker joins.
func TestKeepAliveConnectionsShedToNewWorker(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "1", "--max-keepalive-reqs", "1000"}, ready: 1})
	const n = 20
	type kconn struct {
		c net.Conn
		r *bufio.Reader
	}
	var conns []kconn
	defer func() {
		for _, k := range conns {
			k.c.Close()
		}
	}()
	ask := func(k kconn) (pid int, closing bool) {
		t.Helper()
		k.c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(k.c, "GET /pid HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(k.r, nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		f := strings.Fields(string(body))
		if resp.StatusCode != http.StatusOK || len(f) == 0 {
			t.Fatalf("GET /pid: status %d %q", resp.StatusCode, body)
		}
		pid, _ = strconv.Atoi(f[0])
		return pid, resp.Close
	}
	first := 0
	for range n {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		k := kconn{c, bufio.NewReader(c)}
		conns = append(conns, k)
		pid, closing := ask(k)
		if first == 0 {
			first = pid
		}
		if pid != first || closing {
			t.Fatalf("with one worker: answered by %d (want %d), close %v", pid, first, closing)
		}
	}
	s.signal(t, syscall.SIGTTIN)
	s.waitPool(t, 2, 10*time.Second)
	closed := 0
	for _, k := range conns {
		if _, closing := ask(k); closing {
			closed++
		}
	}
	if closed < n/4 {
		t.Errorf("the first worker closed %d of its %d keep-alive connections once a second worker was ready, want at least %d", closed, n, n/4)
	}
	t.Logf("%d of %d connections closed to rebalance", closed, n)
	s.stop(t)
}

// --min-reqs-per-child draws each worker's budget in [min, max].
func TestMinReqsPerChild(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "1", "--max-reqs-per-child", "6", "--min-reqs-per-child", "3"}, ready: 1})
	r := loadPIDs(s, s.client, 1, 60, 30*time.Second, nil)
	if n := r.errs.count(); n > 0 {
		t.Fatalf("%d of %d requests failed:\n%s", n, r.requests.Load(), &r.errs)
	}
	re := regexp.MustCompile(`starlight: worker \d+ recycled after (\d+) requests`)
	s.waitLog(t, 10*time.Second, re)
	var budgets []int
	for _, line := range s.lines() {
		if m := re.FindStringSubmatch(line); m != nil {
			budgets = append(budgets, atoi(m[1]))
		}
	}
	if len(budgets) < 8 {
		t.Fatalf("%d recycles after 60 requests with budgets of 3 to 6: %v", len(budgets), budgets)
	}
	for _, n := range budgets {
		if n < 3 || n > 6 {
			t.Errorf("a worker recycled after %d requests, outside [3, 6]: %v", n, budgets)
		}
	}
	if slices.Min(budgets) == slices.Max(budgets) {
		t.Errorf("every one of %d workers served %d requests: the budget is not drawn in [3, 6]", len(budgets), budgets[0])
	}
	s.stop(t)
}

// --keepalive-timeout closes an idle keep-alive connection; --access-log -
// writes the access lines to stdout.
func TestKeepaliveTimeoutAndAccessLogToStdout(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "1", "--max-keepalive-reqs", "100", "--keepalive-timeout", "1", "--access-log", "-"}, ready: 1})
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	// Taken before the request: the connection cannot idle from earlier,
	// so it must not close sooner than 1s after this.
	sent := time.Now()
	if _, err := io.WriteString(c, "GET /pid?mark=idle HTTP/1.1\r\nHost: e2e\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		t.Fatal("the first response closed the connection: keep-alive is off")
	}
	idle := time.Now()
	c.SetReadDeadline(idle.Add(10 * time.Second))
	_, err = br.ReadByte()
	took := time.Since(idle)
	if err != io.EOF || took > 1900*time.Millisecond || time.Since(sent) < time.Second {
		t.Errorf("idle keep-alive connection: read returned %v after %s, want EOF near 1s (not the default 2s)", err, took.Round(time.Millisecond))
	}
	eventually(t, 5*time.Second, "the access line on stdout", func() bool {
		return strings.Contains(s.stdout.String(), `"GET /pid?mark=idle HTTP/1.1" 200`)
	})
	s.stop(t)
}
