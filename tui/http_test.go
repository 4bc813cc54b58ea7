package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/starlight-go/starlight/status"
)

// The counts are those of the last 10 s: 5xx from a burst leave the
// header and the table once the burst is over 10 s old, and a worker born
// since counts from zero.
func TestHTTPWindow(t *testing.T) {
	hs := newHarness(t, 120, 40)
	snap := func(errs uint64, born bool) status.Snapshot {
		w := status.WorkerInfo{Slot: 0, PID: 100, Generation: 1, State: status.StateIdle, Started: t0.Add(-time.Hour)}
		w.HTTP.Classes = [4]uint64{1000, 0, 0, 50 + errs}
		w.HTTP.Latency[3] = 1050 + errs
		s := status.Snapshot{Time: hs.clock, Generation: 1, Target: 2, Workers: []status.WorkerInfo{w}}
		if born {
			n := status.WorkerInfo{Slot: 1, PID: 200, Generation: 1, State: status.StateIdle, Started: hs.clock.Add(-time.Second)}
			n.HTTP.Classes = [4]uint64{7, 0, 0, 0}
			n.HTTP.Latency[2] = 7
			s.Workers = append(s.Workers, n)
		}
		for _, w := range s.Workers {
			s.HTTP.Add(w.HTTP)
		}
		return s
	}
	step := func(errs uint64, born bool) string {
		hs.clock = hs.clock.Add(time.Second)
		hs.master.set(snap(errs, born))
		hs.tick()
		return ansi.Strip(hs.m.View())
	}
	step(0, false)
	step(0, false)
	view := step(3, false)
	if !strings.Contains(view, "5xx 3") {
		t.Errorf("3 new 5xx not in the header:\n%s", view)
	}
	if got := statusCells(view, "100"); !strings.Contains(got, " 0 0 0 3 ") {
		t.Errorf("row of 100 %q does not read 2XX..5XX 0 0 0 3", got)
	}
	if h, _ := hs.m.http.worker(100); h.Classes[3] != 3 || h.Classes[0] != 0 {
		t.Errorf("worker 100 over the window: %+v, want 3 5xx and no 2xx", h.Classes)
	}
	view = step(3, true)
	if h, ok := hs.m.http.worker(200); !ok || h.Classes[0] != 7 {
		t.Errorf("worker 200, born since: %+v %v, want its 7 2xx", h.Classes, ok)
	}
	for range 11 {
		view = step(3, true)
	}
	if !strings.Contains(view, "5xx 0") {
		t.Errorf("the burst is over 10 s old but the header still counts it:\n%s", view)
	}
	if h, _ := hs.m.http.worker(100); h.Classes[3] != 0 {
		t.Errorf("worker 100 still has %d 5xx in the window", h.Classes[3])
	}
	if !hs.m.http.errorsInHistory() {
		t.Error("the 5xx history lost the burst")
	}
}

// statusCells is the part of a table row after its pid, for messages.
func statusCells(view, pid string) string {
	for _, l := range strings.Split(view, "\n") {
		if i := strings.Index(l, " "+pid+" "); i >= 0 {
			return strings.Join(strings.Fields(l[i:]), " ")
		}
	}
	return ""
}
