package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// sampleWindow is the resolution at which the availability tests judge
// the service: a window of it with no successful response is an outage.
// These tests run one at a time, not in parallel with the rest (which
// would take the CPUs the judgement is about).
const sampleWindow = 250 * time.Millisecond

// clientPace is the least time between two requests of one client.
const clientPace = 5 * time.Millisecond

// availability runs clients that GET /pid until stop is closed or d has
// passed, and records when each success came.
type availability struct {
	mu        sync.Mutex
	successes []time.Time
	failures  int
	lastErr   string
	begin     time.Time
	end       time.Time
}

// measure runs clients against s for d (or until stop closes).
func measure(s *server, clients int, d time.Duration, stop <-chan struct{}) *availability {
	a := &availability{begin: time.Now()}
	deadline := a.begin.Add(d)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			// Each client asks at most every clientPace: a steady load
			// that leaves the CPUs room, so that a window without an
			// answer is the server's doing, not a machine run flat out.
			pace := time.NewTicker(clientPace)
			defer pace.Stop()
			for time.Now().Before(deadline) {
				select {
				case <-stop:
					return
				case <-pace.C:
				}
				_, _, err := s.whoami(c)
				a.mu.Lock()
				if err == nil {
					a.successes = append(a.successes, time.Now())
				} else {
					a.failures++
					a.lastErr = err.Error()
				}
				a.mu.Unlock()
			}
		})
	}
	wg.Wait()
	a.end = time.Now()
	return a
}

// outages returns the windows after the first success with no success in
// them, as offsets from the start.
func (a *availability) outages() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.successes) == 0 {
		return []string{"no request ever succeeded"}
	}
	first := a.successes[0]
	n := int(a.end.Sub(first) / sampleWindow)
	hits := make([]int, n)
	for _, t := range a.successes {
		if i := int(t.Sub(first) / sampleWindow); i < n {
			hits[i]++
		}
	}
	var out []string
	for i, h := range hits {
		if h == 0 {
			out = append(out, fmt.Sprintf("%.2fs", (first.Sub(a.begin)+time.Duration(i)*sampleWindow).Seconds()))
		}
	}
	return out
}

func (a *availability) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return fmt.Sprintf("%d successes, %d failures (last: %s) in %s", len(a.successes), a.failures, a.lastErr, a.end.Sub(a.begin).Round(time.Millisecond))
}

// slowPosts keeps n slow uploads going until stop closes: each POSTs a
// 5-byte body to /upload one byte a second, then starts another on a new
// connection (or at once when the server cuts it), so that every worker,
// new ones too, gets slow requests to finish when it reaches its budget.
func slowPosts(s *server, n int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Spread the clients over the first second.
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(i) * time.Second / time.Duration(n)):
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", s.addr, time.Second)
				if err != nil {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond): // pace the redials of a refused connection
					}
					continue
				}
				trickle(c, 5, stop)
				c.Close()
			}
		})
	}
	return &wg
}

// trickle sends a POST of a size-byte body a byte a second, then reads
// the answer, until a write fails or stop closes.
func trickle(c net.Conn, size int, stop <-chan struct{}) {
	if _, err := fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", size); err != nil {
		return
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for range size {
		select {
		case <-stop:
			return
		case <-tick.C:
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, c)
}

// Slow clients that hold requests open in workers that reach their budget
// never leave the pool without accepting workers: the recycled workers
// drain beside their replacements, and past the drain limit the one
// draining longest goes.
func TestSlowRequestsWithRecyclingNeverEmptyThePool(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "4", "--max-reqs-per-child", "50"}, ready: 4})
	stop := make(chan struct{})
	slow := slowPosts(s, 32, stop)
	a := measure(s, 4, 10*time.Second, nil)
	close(stop)
	slow.Wait()
	if out := a.outages(); len(out) > 0 {
		t.Errorf("no successful response in %d windows of %s, at %s; %s", len(out), sampleWindow, strings.Join(out, " "), a)
	}
	if n := s.count(regexp.MustCompile(`recycled after`)); n < 4 {
		t.Errorf("%d workers recycled: the load did not exercise recycling", n)
	}
	t.Logf("%s; %d drained workers killed at the limit", a, s.count(regexp.MustCompile(`drained .* the longest`)))
	s.stop(t)
}

// A worker SIGKILLed every 300 ms: crashes back off, yet the pool always
// has a worker accepting.
func TestCrashStormNeverEmptiesThePool(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "4"}, ready: 4})
	stop := make(chan struct{})
	killer := make(chan int)
	go func() {
		kills := 0
		defer func() { killer <- kills }()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if ws := s.readyWorkers(); len(ws) > 0 {
					if syscall.Kill(ws[rand.IntN(len(ws))], syscall.SIGKILL) == nil {
						kills++
					}
				}
			}
		}
	}()
	a := measure(s, 8, 15*time.Second, nil)
	close(stop)
	kills := <-killer
	if out := a.outages(); len(out) > 0 {
		t.Errorf("no successful response in %d windows of %s, at %s; %s", len(out), sampleWindow, strings.Join(out, " "), a)
	}
	if kills < 30 {
		t.Errorf("only %d kills in 15 s", kills)
	}
	if s.count(reBackoff) == 0 {
		t.Error("no line says the master backs off after crashes")
	}
	t.Logf("%s; %d workers killed", a, kills)
	s.waitPool(t, 4, 30*time.Second) // the backoff ends, the pool fills again
	s.stop(t)
}

// A stopped worker is noticed by its heartbeat: its stacks are logged, it
// is killed and replaced, and the pool keeps serving meanwhile.
func TestFrozenWorkerIsReplaced(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "2", "--worker-timeout", "3"}, ready: 2})
	victim := s.readyWorkers()[0]
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	s.waitLog(t, 10*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d frozen for \d+s \(no heartbeat; --worker-timeout 3s\)`, victim)))
	// Its last heartbeat came up to half a second before the stop.
	if d := time.Since(stopped); d < 2500*time.Millisecond {
		t.Errorf("judged frozen %s after it stopped, before --worker-timeout 3 less a heartbeat's interval", d)
	}
	s.waitLog(t, 10*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d crashed: frozen for \d+s, then exit status 2 after \d+ requests?; its stacks are in the log`, victim)))
	if n := s.count(regexp.MustCompile(`^goroutine \d+ .*\[\w+`)); n == 0 {
		t.Errorf("no goroutine stack in the log:\n%s", strings.Join(s.lines(), "\n"))
	}
	if alive(victim) {
		t.Errorf("the frozen worker %d is still there", victim)
	}
	ws := s.waitPool(t, 2, 10*time.Second)
	for _, pid := range ws {
		if pid == victim {
			t.Errorf("the frozen worker is counted in the pool: %v", ws)
		}
	}
	r := loadPIDs(s, s.client, 2, 50, 10*time.Second, nil)
	if n := r.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed after the replacement:\n%s", n, r.requests.Load(), &r.errs)
	}
	s.stop(t)
}

// A frozen worker retired by a reload (the watchdog off) is killed once
// --graceful-timeout is over, and the reload finishes.
func TestReloadFinishesPastAFrozenWorker(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "2", "--worker-timeout", "0", "--graceful-timeout", "1"}, ready: 2})
	victim := s.readyWorkers()[0]
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 20*time.Second, regexp.MustCompile(`starlight: reload finished: generation 2 serves on every worker`))
	s.waitLog(t, 5*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: worker %d exited \(replaced by generation 2\) after \d+ requests?: killed by SIGKILL, still running 2s after --graceful-timeout 1s`, victim)))
	if alive(victim) {
		t.Errorf("the frozen worker %d is still there", victim)
	}
	if n := s.count(regexp.MustCompile(`crashes in a row`)); n > 0 {
		t.Error("killing an overdue worker counted as a crash")
	}
	s.stop(t)
}

// Workers that leak past --max-worker-memory are recycled without a
// failed request.
func TestMemoryLimitRecyclesLeakingWorkers(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "2", "--max-worker-memory", "100M"}, ready: 2})
	c := newClient(false)
	re := regexp.MustCompile(`starlight: worker (\d+) recycled \(memory (\d+) MB > 100 MB\) after \d+ requests?`)
	var failed []string
	// 40 MB five times a second: the master, looking once a second, sees
	// a worker at most a few hundred MB over.
	pace := time.NewTicker(200 * time.Millisecond)
	defer pace.Stop()
	for i := 0; i < 60 && s.count(re) < 2; i++ {
		code, body, err := s.get(c, "/leak?mb=40")
		if err != nil || code != 200 {
			failed = append(failed, fmt.Sprintf("%d %q %v", code, body, err))
		}
		<-pace.C
	}
	if len(failed) > 0 {
		t.Errorf("%d requests failed while workers were recycled: %v", len(failed), failed)
	}
	if n := s.count(re); n < 2 {
		t.Fatalf("%d workers recycled for memory, want 2:\n%s", n, strings.Join(s.lines(), "\n"))
	}
	for _, line := range s.lines() {
		if m := re.FindStringSubmatch(line); m != nil && atoi(m[2]) <= 100 {
			t.Errorf("recycled at %s MB: %s", m[2], line)
		}
	}
	s.waitPool(t, 2, 10*time.Second)
	s.stop(t)
}

// 50 SIGHUPs in 2 s, then 30 TTIN and 30 TTOU, under load: the pool ends
// at its size, on the last generation, and no request fails.
func TestSignalStormUnderLoad(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "4"}, ready: 4})
	stop := make(chan struct{})
	var load *loadResult
	done := make(chan struct{})
	go func() {
		defer close(done)
		load = loadPIDs(s, newClient(true), 4, 1_000_000, 90*time.Second, func(*loadResult) bool {
			select {
			case <-stop:
				return true
			default:
				return false
			}
		})
	}()
	pace := time.NewTicker(40 * time.Millisecond) // 50 in 2 s
	for range 50 {
		s.signal(t, syscall.SIGHUP)
		<-pace.C
	}
	pace.Stop()
	reStarted := regexp.MustCompile(`starlight: reload started \(SIGHUP\): generation (\d+)`)
	last := 0
	poll(60*time.Second, func() bool {
		for _, l := range s.lines() {
			if m := reStarted.FindStringSubmatch(l); m != nil {
				last = max(last, atoi(m[1]))
			}
		}
		return s.count(regexp.MustCompile(fmt.Sprintf(`reload finished: generation %d serves`, last))) == 1
	})
	if s.count(regexp.MustCompile(fmt.Sprintf(`reload finished: generation %d serves`, last))) != 1 {
		t.Fatalf("the last reload (generation %d) did not finish", last)
	}
	for i := range 30 {
		s.signal(t, syscall.SIGTTIN)
		s.waitLog(t, 5*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: workers: %d$`, 5+i)))
	}
	for i := range 30 {
		s.signal(t, syscall.SIGTTOU)
		n, seen := 33-i, 2 // the TTINs logged it once on the way up
		if n == 4 {
			seen = 1
		}
		s.waitLogN(t, 5*time.Second, regexp.MustCompile(fmt.Sprintf(`starlight: workers: %d$`, n)), seen)
	}
	ws := s.waitPool(t, 4, 60*time.Second)
	close(stop)
	<-done
	if n := load.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed:\n%s", n, load.requests.Load(), &load.errs)
	}
	gen := itoa(last)
	for range 20 {
		if _, g, err := s.whoami(s.client); err != nil || g != gen {
			t.Fatalf("answered by generation %q (%v), want %s", g, err, gen)
		}
	}
	if len(ws) != 4 {
		t.Errorf("pool %v, want 4 workers", ws)
	}
	t.Logf("%d requests; %d reloads merged into generation %d", load.requests.Load(), 50, last)
	s.stop(t)
}
