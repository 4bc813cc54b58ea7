package prefork

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/addr"
	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
)

func TestLanesFor(t *testing.T) {
	for _, tc := range []struct {
		p, k, n int
		want    []int
	}{
		{0, 3, 3, []int{0}},
		{2, 3, 3, []int{2}},
		{0, 2, 3, []int{0, 2}}, // scaled down: one worker takes two lanes
		{1, 2, 3, []int{1}},
		{0, 1, 3, []int{0, 1, 2}},
		{3, 4, 3, []int{0}}, // scaled up: workers share lanes
		{4, 5, 2, []int{0}},
		{3, 5, 2, []int{1}},
	} {
		if got := lanesFor(tc.p, tc.k, tc.n); !slices.Equal(got, tc.want) {
			t.Errorf("lanesFor(%d, %d, %d) = %v, want %v", tc.p, tc.k, tc.n, got, tc.want)
		}
	}
}

// laneMaster is a master with n lanes, target workers and the given
// serving, ready workers of generation 1 (each a list of lanes).
func laneMaster(t *testing.T, n, target int, workers ...[]int) *Master {
	board, err := scoreboard.Create(64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { board.Close() })
	m := &Master{target: target, board: board, procs: map[int]*proc{}, listeners: []*listener{{lanes: make([]int, n)}}}
	for i, l := range workers {
		m.procs[100+i] = &proc{pid: 100 + i, slot: i, gen: 1, ready: true, lanes: l}
	}
	return m
}

func (m *Master) pool() []*proc {
	var out []*proc
	for _, p := range m.procs {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b *proc) int { return a.pid - b.pid })
	return out
}

func TestNextLanesFillsPositions(t *testing.T) {
	m := laneMaster(t, 3, 3, []int{0}, []int{2})
	if got := m.nextLanes(1); !slices.Equal(got, []int{1}) {
		t.Errorf("next lanes %v, want [1], the lane nobody holds", got)
	}
	if !m.lanesUnfilled(1) {
		t.Error("lane 1 is held by nobody, yet no position is unfilled")
	}
	// More workers than lanes: the fifth shares the lane fewest share.
	m = laneMaster(t, 2, 5, []int{0}, []int{1}, []int{0}, []int{1})
	if got := m.nextLanes(1); !slices.Equal(got, []int{0}) {
		t.Errorf("next lanes %v, want [0]", got)
	}
	m = laneMaster(t, 2, 4, []int{0}, []int{1}, []int{0}, []int{1})
	if m.lanesUnfilled(1) {
		t.Error("4 workers on 2 lanes, 2 each: no position is unfilled")
	}
}

// After a scale-down from 3 to 2 workers on 3 lanes the master starts a
// worker for lanes 0 and 2, and only once it is ready may the workers of
// lanes 0 and 2 go; the worker of lane 1 stays.
func TestScaleDownKeepsEveryLaneHeld(t *testing.T) {
	m := laneMaster(t, 3, 2, []int{0}, []int{1}, []int{2})
	if !m.lanesUnfilled(1) || !slices.Equal(m.nextLanes(1), []int{0, 2}) {
		t.Fatalf("unfilled %v, next %v; want a worker for lanes [0 2]", m.lanesUnfilled(1), m.nextLanes(1))
	}
	if p := m.pickRetiree(m.pool(), m.pool(), true); p != nil {
		t.Fatalf("retired %d (lanes %v) while no other worker holds its lane", p.pid, p.lanes)
	}
	m.procs[200] = &proc{pid: 200, slot: 7, gen: 1, lanes: []int{0, 2}} // started, not ready
	if p := m.pickRetiree(m.pool(), m.pool(), true); p != nil {
		t.Fatalf("retired %d (lanes %v) before the new worker is ready", p.pid, p.lanes)
	}
	m.procs[200].ready = true
	var gone []string
	for {
		p := m.pickRetiree(m.pool(), m.pool(), true)
		if p == nil {
			break
		}
		gone = append(gone, fmt.Sprint(p.lanes))
		delete(m.procs, p.pid)
	}
	slices.Sort(gone)
	if !slices.Equal(gone, []string{"[0]", "[2]"}) {
		t.Errorf("retired the workers of lanes %v, want [0] and [2]", gone)
	}
	if m.lanesUnfilled(1) {
		t.Error("a position is unfilled after the scale-down")
	}
}

// More workers than lanes (4 on 2), scaled down to 3: a worker of the lane
// two positions share must stay, else the master would start one for the
// empty position and retire it again, forever.
func TestScaleDownWithSharedLanesSettles(t *testing.T) {
	m := laneMaster(t, 2, 3, []int{0}, []int{1}, []int{0}, []int{1})
	p := m.pickRetiree(m.pool(), m.pool(), true)
	if p == nil || !slices.Equal(p.lanes, []int{1}) {
		t.Fatalf("retired %v, want a worker of lane 1", p)
	}
	delete(m.procs, p.pid)
	if m.lanesUnfilled(1) {
		t.Error("a position is unfilled after retiring the spare worker")
	}
	if p := m.pickRetiree(m.pool(), m.pool(), true); p != nil {
		t.Errorf("retired %d (lanes %v) from a pool that matches the target", p.pid, p.lanes)
	}
}

// poolSim drives the master's own reconcile with pretend workers: a start
// makes a worker at once, every started worker is ready by the next step,
// and a retired worker has exited by then.
type poolSim struct {
	t    *testing.T
	m    *Master
	next int
}

type quietObserver struct{}

func (quietObserver) Event(status.Event) {}
func (quietObserver) Log(status.LogLine) {}

func newPoolSim(t *testing.T, lanes, workers int) *poolSim {
	m := laneMaster(t, lanes, workers)
	m.obs, m.live, m.gen, m.lastGen = quietObserver{}, true, 1, 1
	for i := m.board.Len() - 1; i >= 0; i-- {
		m.freeSlots = append(m.freeSlots, i)
	}
	s := &poolSim{t: t, m: m, next: 1000}
	m.workers = s
	return s
}

// The simulation is the master's processes: a start makes one up, and
// signals and sizes are of no consequence (step decides what happens).
func (s *poolSim) start(sp spawnSpec) (*proc, error) {
	s.next++
	return &proc{pid: s.next, slot: sp.slot, gen: sp.gen, started: sp.now, lanes: sp.lanes}, nil
}
func (s *poolSim) signal(*proc, syscall.Signal) {}
func (s *poolSim) residentSize(int) uint64      { return 0 }

// step runs reconcile once; then every started worker is ready and every
// retired one gone.
func (s *poolSim) step() {
	s.m.reconcile(time.Now())
	for pid, p := range s.m.procs {
		if p.retire != notRetired {
			delete(s.m.procs, pid)
			s.m.freeSlots = append(s.m.freeSlots, p.slot)
		} else {
			p.ready = true
		}
	}
}

// settle steps until the pool stops changing and returns the most workers
// alive at once. With held, every lane must have a ready worker after
// every step.
func (s *poolSim) settle(held bool) int {
	s.t.Helper()
	most := 0
	for range 200 {
		before, rolling := fmt.Sprint(s.state()), s.m.roll != nil
		s.step()
		most = max(most, len(s.m.procs))
		if held {
			s.checkLanesHeld()
		}
		if fmt.Sprint(s.state()) == before && !rolling && s.m.roll == nil {
			return most
		}
	}
	s.t.Fatalf("the pool does not settle after 200 steps: %v", s.state())
	return most
}

// state lists the workers as "generation:lanes", sorted.
func (s *poolSim) state() []string {
	var out []string
	for _, p := range s.m.procs {
		out = append(out, fmt.Sprintf("%d:%v", p.gen, p.lanes))
	}
	slices.Sort(out)
	return out
}

func (s *poolSim) checkLanesHeld() {
	s.t.Helper()
	for l := range s.m.laneCount() {
		ok := false
		for _, p := range s.m.procs {
			if p.ready && p.serving() && hasLane(p, l) {
				ok = true
			}
		}
		if !ok {
			s.t.Fatalf("lane %d has no ready worker: %v", l, s.state())
		}
	}
}

// checkTarget: as many serving workers as the target, every position
// filled, every lane held.
func (s *poolSim) checkTarget(gen int) {
	s.t.Helper()
	n := 0
	for _, p := range s.m.procs {
		if p.serving() {
			n++
			if p.gen != gen {
				s.t.Errorf("worker of generation %d left: %v", p.gen, s.state())
			}
		}
	}
	if n != s.m.target || s.m.lanesUnfilled(gen) {
		s.t.Fatalf("want %d workers filling every position, have %v", s.m.target, s.state())
	}
	s.checkLanesHeld()
}

// Every scale from n workers (n lanes) to k, then a rollout: the pool
// settles on k workers of the new generation, and no lane is ever without
// a ready worker along the way.
func TestPoolSettlesOnEveryScaleAndRollout(t *testing.T) {
	for n := 1; n <= 6; n++ {
		for k := 1; k <= 8; k++ {
			t.Run(fmt.Sprintf("%d-to-%d", n, k), func(t *testing.T) {
				s := newPoolSim(t, n, n)
				s.settle(false)
				s.checkTarget(1)
				s.m.target = k
				most := s.settle(true)
				s.checkTarget(1)
				if limit := max(n, k) + n; most > limit {
					t.Errorf("%d workers at once, want at most %d", most, limit)
				}
				s.m.lastGen = 2
				s.m.startRollout(2, "app-2", "test")
				s.settle(true)
				s.checkTarget(2)
			})
		}
	}
}

// A scale-down in the middle of a rollout: the new generation's workers
// hold the lanes of the old positions, so it needs one more for the new
// ones before the last old worker can go and the rollout can finish.
func TestRolloutFinishesAfterScaleDownMidway(t *testing.T) {
	for midway := 1; midway <= 5; midway++ {
		t.Run(fmt.Sprintf("after-%d-steps", midway), func(t *testing.T) {
			s := newPoolSim(t, 3, 3)
			s.settle(false)
			s.m.lastGen = 2
			s.m.startRollout(2, "app-2", "test")
			for range midway {
				s.step()
				s.checkLanesHeld()
			}
			s.m.target = 2
			s.settle(true)
			s.checkTarget(2)
		})
	}
}

// --reuse-port never shares a port with a server already there: SO_REUSEPORT
// alone would let a second one bind it without a word.
func TestReusePortRefusesABoundPort(t *testing.T) {
	first, err := bindTCP(addr.HostPort("127.0.0.1", 0), false, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer closeListeners([]*listener{first})
	if len(first.lanes) != 2 {
		t.Fatalf("%d lanes, want 2", len(first.lanes))
	}
	second, err := bindTCP(mustParse(t, first.addr), false, 2)
	if err == nil {
		closeListeners([]*listener{second})
		t.Fatalf("a second --reuse-port server bound %s", first.addr)
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q, want address already in use", err)
	}
}
