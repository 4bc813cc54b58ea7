package prefork

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
)

// fakePool drives a Master's pool decisions with no process behind them:
// it is the master's processes (starts, signals and resident sizes), and
// hands exits and ready notices to the master as the real watchers would.
type fakePool struct {
	t       *testing.T
	m       *Master
	next    int
	signals map[int][]syscall.Signal
	memory  map[int]uint64
	events  *recorder
}

type recorder struct {
	mu     sync.Mutex
	events []status.Event
}

func (r *recorder) Event(e status.Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }
func (r *recorder) Log(status.LogLine)   {}

// saw reports whether an event's message contains s.
func (r *recorder) saw(s string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(e status.Event) bool { return strings.Contains(e.Message, s) })
}

func newFakePool(t *testing.T, target int, opts func(*Config)) *fakePool {
	board, err := scoreboard.Create(64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { board.Close() })
	cfg := DefaultConfig()
	if opts != nil {
		opts(&cfg)
	}
	f := &fakePool{t: t, next: 1000, signals: map[int][]syscall.Signal{}, memory: map[int]uint64{}, events: &recorder{}}
	m := &Master{cfg: cfg, obs: f.events, live: true, announced: true, board: board, procs: map[int]*proc{},
		target: target, gen: 1, lastGen: 1, binary: "app-1"}
	for i := board.Len() - 1; i >= 0; i-- {
		m.freeSlots = append(m.freeSlots, i)
	}
	m.workers = f
	f.m = m
	return f
}

func (f *fakePool) start(s spawnSpec) (*proc, error) {
	f.next++
	f.m.board.Slot(s.slot).Reset(uint32(s.gen), 0, s.now.UnixNano())
	return &proc{pid: f.next, slot: s.slot, gen: s.gen, started: s.now, lanes: s.lanes}, nil
}

func (f *fakePool) signal(p *proc, sig syscall.Signal) {
	f.signals[p.pid] = append(f.signals[p.pid], sig)
}
func (f *fakePool) residentSize(pid int) uint64 { return f.memory[pid] }

// settle reconciles and makes every new worker ready, until the pool
// serves its target.
func (f *fakePool) settle() {
	f.t.Helper()
	for range 20 {
		f.m.reconcile(time.Now())
		for _, p := range f.m.procs {
			if !p.ready && p.serving() {
				f.ready(p)
			}
		}
		if f.count((*proc).serving) == f.m.target {
			return
		}
	}
	f.t.Fatalf("the pool does not settle: %s", f)
}

func (f *fakePool) ready(p *proc) {
	f.m.board.Slot(p.slot).State.Store(scoreboard.Ready)
	f.m.board.Slot(p.slot).Heartbeat.Store(time.Now().UnixNano())
	f.m.readied(p)
}

// crash ends p as SIGKILL from outside would.
func (f *fakePool) crash(p *proc) {
	f.m.reaped(exitMsg{p: p, status: syscall.WaitStatus(syscall.SIGKILL)})
}

// drain has p reach its budget and start draining.
func (f *fakePool) drain(p *proc) {
	f.m.board.Slot(p.slot).ExitReason.Store(scoreboard.ExitBudget)
	f.m.board.Slot(p.slot).State.Store(scoreboard.Exiting)
	p.draining = true
	f.m.left(p, time.Now())
}

func (f *fakePool) count(pred func(*proc) bool) int {
	n := 0
	for _, p := range f.m.procs {
		if pred(p) {
			n++
		}
	}
	return n
}

func (f *fakePool) serving() []*proc {
	var ps []*proc
	for _, p := range f.m.pool() {
		if p.serving() {
			ps = append(ps, p)
		}
	}
	return ps
}

func starting(p *proc) bool { return p.serving() && !p.ready }

func (f *fakePool) String() string {
	var b strings.Builder
	for _, p := range f.m.pool() {
		fmt.Fprintf(&b, "[%d gen %d ready %v retire %d draining %v killed %d] ", p.pid, p.gen, p.ready, p.retire, p.draining, p.killed)
	}
	return b.String()
}

// crashUntilBackoff crashes ready workers (replaced one by one) until a
// crash's replacement waits at least d.
func (f *fakePool) crashUntilBackoff(d time.Duration) {
	f.t.Helper()
	for range 20 {
		f.crash(f.serving()[0])
		if time.Until(f.m.crash.till) >= d {
			return
		}
		f.m.crash.till = time.Time{} // the test does not wait for short ones
		f.settle()
	}
	f.t.Fatalf("no backoff of %s after 20 crashes", d)
}

// A worker that reaches its budget during a crash backoff is replaced at
// once; only the crashed worker's place waits.
func TestBackoffHoldsOnlyCrashedPlaces(t *testing.T) {
	f := newFakePool(t, 4, nil)
	f.settle()
	f.crashUntilBackoff(time.Second)
	f.m.reconcile(time.Now())
	if n := f.count(starting); n != 0 {
		t.Fatalf("%d workers started during the backoff of a crash: %s", n, f)
	}
	f.drain(f.serving()[0])
	f.m.reconcile(time.Now())
	if n := f.count(starting); n != 1 {
		t.Fatalf("%d workers started for one that drained, want 1: %s", n, f)
	}
	if n := len(f.serving()); n != 3 {
		t.Fatalf("%d serving, want 3 (the crashed one's place waits): %s", n, f)
	}
	f.m.crash.till = time.Now().Add(-time.Millisecond) // the backoff is over
	f.settle()
	if n := len(f.serving()); n != 4 {
		t.Fatalf("%d serving after the backoff, want 4: %s", n, f)
	}
}

// Every worker killed in a row: the backoff grows, yet two workers start
// at once while none serves, because the app is known to start; the rest
// wait.
func TestCrashStormKeepsAWorker(t *testing.T) {
	f := newFakePool(t, 4, nil)
	f.settle()
	f.crashUntilBackoff(time.Second)
	for _, p := range f.serving() {
		f.crash(p)
	}
	if len(f.m.procs) != 0 {
		t.Fatalf("workers left: %s", f)
	}
	f.m.reconcile(time.Now())
	if n := f.count(starting); n != crashFloor {
		t.Fatalf("%d workers started with none serving during a backoff, want %d: %s", n, crashFloor, f)
	}
	f.m.reconcile(time.Now())
	if n := f.count(starting); n != crashFloor {
		t.Fatalf("%d workers starting before the first are ready, want %d: %s", n, crashFloor, f)
	}
	for _, p := range f.serving() {
		f.ready(p)
	}
	f.crash(f.serving()[0]) // one of them crashes too, once ready
	f.m.reconcile(time.Now())
	if n := len(f.serving()); n != crashFloor {
		t.Fatalf("%d serving after another crash, want %d: %s", n, crashFloor, f)
	}
}

// Workers that crash before they are ready (the app cannot start now)
// wait for the backoff even with none serving: respawning at once would
// only crash again.
func TestBackoffHoldsWorkersThatCannotStart(t *testing.T) {
	f := newFakePool(t, 2, nil)
	f.settle()
	for _, p := range f.serving() {
		f.crash(p)
	}
	for range 6 {
		f.m.crash.till = time.Time{}
		f.m.reconcile(time.Now())
		for _, p := range f.serving() {
			f.m.reaped(exitMsg{p: p, status: syscall.WaitStatus(1 << 8)}) // exit status 1, never ready
		}
	}
	if time.Until(f.m.crash.till) < time.Second {
		t.Fatalf("backoff %s after 8 crashes", time.Until(f.m.crash.till))
	}
	f.m.reconcile(time.Now())
	if len(f.m.procs) != 0 {
		t.Fatalf("a worker started during the backoff: %s", f)
	}
}

// Crashes of the old generation hold back nothing of the new one's
// rollout.
func TestOldGenerationCrashesDoNotHoldARollout(t *testing.T) {
	f := newFakePool(t, 3, nil)
	f.settle()
	f.crashUntilBackoff(time.Second)
	f.m.lastGen = 2
	f.m.startRollout(2, "app-2", "test")
	f.m.reconcile(time.Now())
	if n := f.count(func(p *proc) bool { return p.gen == 2 }); n != 1 {
		t.Fatalf("%d workers of generation 2 started during generation 1's backoff, want 1: %s", n, f)
	}
}

// Drained workers that never exit (slow clients) neither stop their
// replacements nor pile up: past the limit, the one draining longest is
// killed.
func TestDrainingNeverBlocksReplacements(t *testing.T) {
	f := newFakePool(t, 2, nil)
	f.settle()
	limit := f.m.drainLimit()
	for i := range 3 * limit {
		p := f.serving()[0]
		f.drain(p)
		p.leftAt = p.leftAt.Add(-drainKillAge) // it has drained a while
		f.m.reconcile(time.Now())
		if n := f.count(starting); n != 1 {
			t.Fatalf("drain %d: %d replacements started, want 1: %s", i, n, f)
		}
		f.settle()
		draining := f.count(func(p *proc) bool { return p.draining && p.killed == notKilled })
		if draining > limit {
			t.Fatalf("drain %d: %d draining, limit %d", i, draining, limit)
		}
	}
	killed := 0
	for pid, sigs := range f.signals {
		if slices.Contains(sigs, syscall.SIGKILL) {
			killed++
			if f.m.procs[pid].killed != killDrainLimit {
				t.Errorf("worker %d killed for %d", pid, f.m.procs[pid].killed)
			}
		}
	}
	if killed != 2*limit {
		t.Fatalf("%d killed, want %d", killed, 2*limit)
	}
}

// A burst of drains (recycles at a high rate) kills none of them while
// they are young: they are finishing requests. Once they have drained
// for drainKillAge, those past the limit go, the oldest first.
func TestYoungDrainsAreNotKilled(t *testing.T) {
	f := newFakePool(t, 2, nil)
	f.settle()
	limit := f.m.drainLimit()
	start := time.Now()
	var order []*proc
	for i := range 2 * limit {
		p := f.serving()[0]
		f.drain(p)
		p.leftAt = start.Add(time.Duration(i) * time.Millisecond)
		order = append(order, p)
		f.m.reconcile(start)
		f.settle()
	}
	if len(f.signals) != 0 {
		t.Fatalf("young drains killed: %v", f.signals)
	}
	f.m.reconcile(start.Add(drainKillAge + time.Duration(limit)*time.Millisecond))
	for i, p := range order {
		killed := slices.Contains(f.signals[p.pid], syscall.SIGKILL)
		if want := i < limit; killed != want {
			t.Errorf("drain %d of %d (oldest first): killed %v, want %v", i, len(order), killed, want)
		}
	}
}

// A worker asked to go (here by a reload) that is still there past
// --graceful-timeout is killed, and the rollout can finish.
func TestOverdueWorkerIsKilled(t *testing.T) {
	f := newFakePool(t, 1, func(c *Config) { c.GracefulTimeout = time.Second })
	f.settle()
	old := f.serving()[0]
	f.m.lastGen = 2
	f.m.startRollout(2, "app-2", "test")
	f.settle()
	if old.retire != retireReplace {
		t.Fatalf("the old worker was not retired: %s", f)
	}
	f.m.housekeeping(time.Now())
	if slices.Contains(f.signals[old.pid], syscall.SIGKILL) {
		t.Fatal("killed before its grace period ended")
	}
	f.m.housekeeping(old.leftAt.Add(time.Second + overdueMargin + time.Millisecond))
	if !slices.Contains(f.signals[old.pid], syscall.SIGKILL) || old.killed != killOverdue {
		t.Fatalf("not killed past its grace period: %v %s", f.signals[old.pid], f)
	}
	f.m.reaped(exitMsg{p: old, status: syscall.WaitStatus(syscall.SIGKILL)})
	f.m.reconcile(time.Now())
	if f.m.roll != nil || f.m.gen != 2 {
		t.Fatalf("the rollout did not finish: %s", f)
	}
	if f.m.crash.streak != 0 {
		t.Error("a kill past the grace period counted as a crash")
	}
}

// A graceful stop kills what still runs only a margin past
// --graceful-timeout: at the timeout itself each worker cuts its own
// requests and exits, and the master's SIGKILL must not beat it to it.
func TestGracefulStopKillsAfterMargin(t *testing.T) {
	f := newFakePool(t, 2, func(c *Config) { c.GracefulTimeout = time.Second })
	f.settle()
	workers := f.serving()
	began := time.Now()
	f.m.stop(false, "test")
	f.m.housekeeping(began.Add(time.Second + stopMargin/2))
	for _, p := range workers {
		if slices.Contains(f.signals[p.pid], syscall.SIGKILL) {
			t.Fatalf("worker %d killed at --graceful-timeout, before it could cut its requests and exit", p.pid)
		}
	}
	f.m.housekeeping(began.Add(time.Second + stopMargin + 50*time.Millisecond))
	for _, p := range workers {
		if !slices.Contains(f.signals[p.pid], syscall.SIGKILL) || p.killed != killStop {
			t.Errorf("worker %d still running past the stop's margin was not killed: %v", p.pid, f.signals[p.pid])
		}
	}
}

// A worker whose heartbeat stopped is continued, asked for its stacks,
// replaced at once, and killed if its dump does not end it.
func TestFrozenWorker(t *testing.T) {
	f := newFakePool(t, 2, func(c *Config) { c.WorkerTimeout = 3 * time.Second })
	f.settle()
	now := time.Now()
	f.m.watchdog(now)
	if len(f.signals) != 0 {
		t.Fatalf("signals to live workers: %v", f.signals)
	}
	victim := f.serving()[0]
	f.m.board.Slot(victim.slot).Heartbeat.Store(now.Add(-4 * time.Second).UnixNano())
	f.m.watchdog(now)
	if got := f.signals[victim.pid]; !slices.Equal(got, []syscall.Signal{syscall.SIGCONT, syscall.SIGQUIT}) {
		t.Fatalf("signals %v, want SIGCONT, SIGQUIT", got)
	}
	if !f.events.saw(fmt.Sprintf("worker %d frozen for 4s", victim.pid)) {
		t.Error("no event says the worker froze")
	}
	f.m.reconcile(now)
	if n := f.count(starting); n != 1 {
		t.Fatalf("%d replacements started for a frozen worker, want 1: %s", n, f)
	}
	f.m.watchdog(now.Add(stackWait + time.Millisecond))
	if got := f.signals[victim.pid]; len(got) != 3 || got[2] != syscall.SIGKILL {
		t.Fatalf("signals %v: no SIGKILL after the stacks' time", got)
	}
	victim.words.keep([]byte("SIGQUIT: quit\ngoroutine 1 [select]:\n"))
	f.m.reaped(exitMsg{p: victim, status: syscall.WaitStatus(2 << 8)})
	if !f.events.saw(fmt.Sprintf("worker %d crashed: frozen for 4s, then exit status 2", victim.pid)) {
		t.Errorf("exit not reported as frozen: %v", f.events.events)
	}
	last := f.events.events[len(f.events.events)-1]
	if !strings.Contains(last.Detail, "goroutine 1 [select]") {
		t.Errorf("the exit event's detail lacks the stacks: %q", last.Detail)
	}
}

// A master that did not run for a while (stopped, asleep) judges no
// heartbeat on that time.
func TestWatchdogAfterTheMastersOwnPause(t *testing.T) {
	f := newFakePool(t, 1, func(c *Config) { c.WorkerTimeout = 3 * time.Second })
	f.settle()
	now := time.Now()
	f.m.watchdog(now.Add(-10 * time.Second))
	f.m.board.Slot(f.serving()[0].slot).Heartbeat.Store(now.Add(-9 * time.Second).UnixNano())
	f.m.watchdog(now)
	if len(f.signals) != 0 {
		t.Fatalf("a worker judged frozen over the master's own pause: %v", f.signals)
	}
	for d := time.Duration(0); d <= 3*time.Second+100*time.Millisecond; d += 100 * time.Millisecond {
		f.m.watchdog(now.Add(d)) // the master's rounds resume
	}
	if len(f.signals) != 1 {
		t.Fatalf("a worker still silent after the pause plus --worker-timeout was not judged frozen: %v", f.signals)
	}
}

// A worker over --max-worker-memory is recycled (drained, replaced at
// once, counted as a recycle); the others are left alone.
func TestMemoryLimitRecycles(t *testing.T) {
	f := newFakePool(t, 2, func(c *Config) { c.MaxWorkerMemory = 100 << 20 })
	f.settle()
	big, small := f.serving()[0], f.serving()[1]
	f.memory[big.pid], f.memory[small.pid] = 150<<20, 90<<20
	f.m.housekeeping(time.Now())
	if got := f.signals[big.pid]; !slices.Equal(got, []syscall.Signal{syscall.SIGTERM}) || big.why != "memory 150 MB > 100 MB" {
		t.Fatalf("the big worker: signals %v, reason %q", got, big.why)
	}
	if len(f.signals[small.pid]) != 0 {
		t.Fatal("the small worker was signalled")
	}
	f.m.reconcile(time.Now())
	if n := f.count(starting); n != 1 {
		t.Fatalf("%d replacements, want 1: %s", n, f)
	}
	f.m.board.Slot(big.slot).Returned.Store(1)
	f.m.reaped(exitMsg{p: big})
	if !f.events.saw(fmt.Sprintf("worker %d recycled (memory 150 MB > 100 MB)", big.pid)) || f.m.view.recycles != 1 {
		t.Fatalf("not reported as a recycle: %v", f.events.events)
	}
}
