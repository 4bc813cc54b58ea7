package scoreboard

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

const childEnv = "SCOREBOARD_TEST_CHILD"

// TestMain lets the test binary act as a worker: it maps the inherited
// board (fd 3) and bumps its slot's counters.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v))
	}
	os.Exit(m.Run())
}

func child(spec string) int {
	var slot, n, reqs int
	if _, err := fmt.Sscanf(spec, "%d/%d/%d", &slot, &n, &reqs); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	b, err := Open(os.NewFile(3, "board"), n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	s := b.Slot(slot)
	s.PID.Store(int32(os.Getpid()))
	s.State.Store(Ready)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < reqs/4; i++ {
				s.End(s.Begin("GET", "/child/"+strconv.Itoa(slot), 1))
			}
		}()
	}
	wg.Wait()
	s.ExitReason.Store(ExitBudget)
	return 0
}

// TestAcrossProcesses runs many worker processes at once on one board and
// checks that every increment of every process is seen by the parent.
func TestAcrossProcesses(t *testing.T) {
	const workers, reqs = 8, 20000
	b := newBoard(t, workers)
	for i := 0; i < workers; i++ {
		b.Slot(i).Reset(7, reqs, 1)
	}
	var cmds []*exec.Cmd
	for i := 0; i < workers; i++ {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), fmt.Sprintf("%s=%d/%d/%d", childEnv, i, workers, reqs))
		c.ExtraFiles = []*os.File{b.File()}
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		s := b.Slot(i)
		if got := s.Requests.Load(); got != reqs {
			t.Errorf("slot %d: %d requests, want %d", i, got, reqs)
		}
		if got := s.PID.Load(); int(got) != c.Process.Pid {
			t.Errorf("slot %d: pid %d, want %d", i, got, c.Process.Pid)
		}
		if s.Active.Load() != 0 || s.ReqStart.Load() != 0 {
			t.Errorf("slot %d: %d still active", i, s.Active.Load())
		}
		if s.ExitReason.Load() != ExitBudget || s.State.Load() != Ready || s.Generation.Load() != 7 {
			t.Errorf("slot %d: reason %d state %d gen %d", i, s.ExitReason.Load(), s.State.Load(), s.Generation.Load())
		}
		if line, start := s.InFlight(); line != "" || start != 0 {
			t.Errorf("slot %d: %q still on record", i, line)
		}
	}
}

func TestInFlight(t *testing.T) {
	b := newBoard(t, 1)
	s := b.Slot(0)
	s.Reset(1, 0, 0)
	if line, _ := s.InFlight(); line != "" {
		t.Fatalf("fresh slot line %q", line)
	}
	long := "/abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	slow := s.Begin("POST", long, 42)
	line, start := s.InFlight()
	if len(line) != LineMax || line[:6] != "POST /" || start != 42 {
		t.Fatalf("long line %q (len %d) since %d", line, len(line), start)
	}
	// A second request while the first runs: the first stays on record.
	fast := s.Begin("GET", "/fast", 43)
	if fast {
		t.Fatal("second request recorded over the first")
	}
	s.End(fast)
	if line, start := s.InFlight(); line[:6] != "POST /" || start != 42 || s.Active.Load() != 1 {
		t.Fatalf("after the fast one: %q since %d, %d active", line, start, s.Active.Load())
	}
	if n := s.End(slow); n != 2 {
		t.Fatalf("End = %d", n)
	}
	if line, start := s.InFlight(); line != "" || start != 0 {
		t.Fatalf("nothing in flight, but %q since %d", line, start)
	}
	// The next request is recorded again.
	tok := s.Begin("GET", "/next", 44)
	if line, _ := s.InFlight(); !tok || line != "GET /next" {
		t.Fatalf("next request: on record %v line %q", tok, line)
	}
}

func TestConcurrentWritersAndReader(t *testing.T) {
	b := newBoard(t, 1)
	s := b.Slot(0)
	s.Reset(1, 0, 0)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5000; i++ {
				s.End(s.Begin("GET", "/g"+strconv.Itoa(g), 1))
			}
		}(g)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			if s.Requests.Load() != 20000 {
				t.Fatalf("requests %d", s.Requests.Load())
			}
			return
		default:
			if l, _ := s.InFlight(); l != "" && (len(l) != 7 || l[:6] != "GET /g") {
				t.Fatalf("torn line %q", l)
			}
		}
	}
}

func TestSlotOutOfRange(t *testing.T) {
	b := newBoard(t, 2)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for slot 2 of 2")
		}
	}()
	b.Slot(2)
}

func TestOpenTooSmall(t *testing.T) {
	b := newBoard(t, 2)
	if _, err := Open(b.File(), 3); err == nil {
		t.Fatal("Open of 2 slots as 3 succeeded")
	}
}

func TestInUseIsTheHighWaterMark(t *testing.T) {
	b := newBoard(t, 8)
	if n := b.InUse(); n != 0 {
		t.Fatalf("fresh board: %d slots in use", n)
	}
	for _, c := range []struct{ use, want int }{{2, 3}, {0, 3}, {5, 6}, {3, 6}, {7, 8}} {
		b.Use(c.use)
		if n := b.InUse(); n != c.want {
			t.Errorf("after Use(%d): InUse = %d, want %d", c.use, n, c.want)
		}
	}
	// The header is not a slot: writing every slot leaves it alone.
	for i := range b.Len() {
		b.Slot(i).Reset(1, 0, 0)
		b.Slot(i).Conns.Store(-1)
	}
	if n := b.InUse(); n != 8 {
		t.Errorf("slot writes changed the header: InUse = %d", n)
	}
}

// A worker that died in the middle of writing its line leaves the
// sequence odd; the slot's next worker still gets its requests on record.
func TestResetClearsAnInterruptedLine(t *testing.T) {
	b := newBoard(t, 1)
	s := b.Slot(0)
	s.Reset(1, 0, 0)
	s.lineSeq.Store(7) // odd: a writer never finished
	if s.Begin("GET", "/lost", 1) {
		t.Fatal("a request went on record over a line being written")
	}
	s.Reset(2, 0, 0)
	if !s.Begin("GET", "/next", 2) {
		t.Fatal("after Reset, a request does not go on record")
	}
	if line, _ := s.InFlight(); line != "GET /next" {
		t.Fatalf("line %q", line)
	}
}

// newBoard creates a board of n slots, closed when the test ends.
func newBoard(t *testing.T, n int) *Board {
	t.Helper()
	b, err := Create(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Observe counts by status class and latency bucket; 1xx and codes out of
// range count in no class but still take their time.
func TestObserve(t *testing.T) {
	b := newBoard(t, 1)
	s := b.Slot(0)
	s.Reset(1, 0, 1)
	for _, c := range []struct {
		code int
		ns   int64
	}{{200, 1000}, {204, 70000}, {301, 140000}, {404, 1 << 20}, {500, 1 << 40}, {503, -5}, {101, 1}, {99, 1}, {600, 1}} {
		s.Observe(c.code, c.ns)
	}
	want := [4]uint32{2, 1, 1, 2}
	for i := range want {
		if got := s.Classes[i].Load(); got != want[i] {
			t.Errorf("class %dxx: %d, want %d", i+2, got, want[i])
		}
	}
	wantLat := map[int]uint32{0: 5, 1: 1, 2: 1, 5: 1, LatencyBuckets - 1: 1}
	for i := range LatencyBuckets {
		if got := s.Latency[i].Load(); got != wantLat[i] {
			t.Errorf("latency bucket %d: %d, want %d", i, got, wantLat[i])
		}
	}
	// The sum, in µs: 1 + 70 + 140 + 1048 + 1099511627 + 0 (negative) + 0 + 0 + 0.
	if got, want := s.LatencySum.Load(), uint64(1+70+140+1048+1099511627); got != want {
		t.Errorf("latency sum %d µs, want %d", got, want)
	}
	s.Reset(2, 0, 1)
	if s.Classes[3].Load() != 0 || s.Latency[0].Load() != 0 || s.Panics.Load() != 0 || s.LatencySum.Load() != 0 {
		t.Error("Reset leaves the HTTP counters")
	}
}

// A bucket holds what is under its bound and at least its predecessor's.
func TestLatencyBucketBounds(t *testing.T) {
	for i := range LatencyBuckets - 1 {
		if got := LatencyBucket(LatencyBound(i) - 1); got != i {
			t.Errorf("LatencyBucket(bound(%d)-1) = %d", i, got)
		}
		if got := LatencyBucket(LatencyBound(i)); got != i+1 {
			t.Errorf("LatencyBucket(bound(%d)) = %d", i, got)
		}
	}
}

// BenchmarkObserve is what a request's end adds to a worker for the HTTP
// counters: the time it took (one clock read) and three atomic adds.
func BenchmarkObserve(b *testing.B) {
	board, err := Create(1)
	if err != nil {
		b.Fatal(err)
	}
	defer board.Close()
	s := board.Slot(0)
	start := time.Now()
	for b.Loop() {
		s.Observe(200, int64(time.Since(start)))
	}
}
