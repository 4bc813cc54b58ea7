package prefork

import (
	"fmt"
	"slices"
	"testing"

	"github.com/starlight-go/starlight/internal/scoreboard"
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
	board, err := scoreboard.Create(8)
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
