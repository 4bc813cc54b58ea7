package prefork

import (
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/starlight-go/starlight/status"
)

// A recycle asked for one worker sends SIGTERM to it alone and a
// replacement starts at once; its exit is a recycle, not a crash.
func TestRecycleWorkerCommand(t *testing.T) {
	f := newFakePool(t, 3, nil)
	f.settle()
	victim := f.serving()[1]
	f.m.command(status.Command{Kind: status.CmdRecycle, PID: victim.pid})
	for pid, sigs := range f.signals {
		want := []syscall.Signal(nil)
		if pid == victim.pid {
			want = []syscall.Signal{syscall.SIGTERM}
		}
		if !slices.Equal(sigs, want) {
			t.Errorf("worker %d got %v, want %v", pid, sigs, want)
		}
	}
	f.settle() // the replacement, while the victim drains
	if got := len(f.m.procs); got != 4 {
		t.Errorf("%d processes while the recycled worker drains, want 4 (3 serving)", got)
	}
	f.m.reaped(exitMsg{p: victim}) // exit status 0
	if f.m.view.crashes != 0 || f.m.view.recycles != 1 {
		t.Errorf("crashes %d, recycles %d; want 0 and 1", f.m.view.crashes, f.m.view.recycles)
	}
	if !f.events.saw("recycled (asked)") {
		t.Error("no event says the worker was recycled as asked")
	}
	// A second recycle of the same worker, gone now, says so.
	f.m.command(status.Command{Kind: status.CmdRecycle, PID: victim.pid})
	if !f.events.saw("no worker " + strconv.Itoa(victim.pid) + " to recycle") {
		t.Error("no event says the worker has exited")
	}
}

// A kill asked for sends SIGKILL to that worker alone, and its death is
// not a crash: no backoff holds its replacement.
func TestKillWorkerCommand(t *testing.T) {
	f := newFakePool(t, 2, nil)
	f.settle()
	victim := f.serving()[0]
	f.m.command(status.Command{Kind: status.CmdKill, PID: victim.pid})
	if got := f.signals[victim.pid]; !slices.Equal(got, []syscall.Signal{syscall.SIGKILL}) {
		t.Errorf("the worker got %v, want SIGKILL", got)
	}
	f.crash(victim) // SIGKILL's exit status
	if f.m.view.crashes != 0 || f.m.crash.streak != 0 {
		t.Errorf("crashes %d, streak %d after a kill asked for; want 0", f.m.view.crashes, f.m.crash.streak)
	}
	if !f.events.saw("killed as asked") {
		t.Error("no event says the worker was killed as asked")
	}
	f.settle()
	if _, ok := f.m.procs[victim.pid]; ok || len(f.serving()) != 2 {
		t.Errorf("after the kill: %s", f)
	}
}
