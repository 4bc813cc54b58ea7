package prefork

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
)

// Every way a worker can end, and what the master makes of it.
func TestClassifyExit(t *testing.T) {
	base := exitFacts{pid: 7, served: 3, ready: true, grace: 30 * time.Second}
	with := func(f func(*exitFacts)) exitFacts {
		x := base
		f(&x)
		return x
	}
	for _, c := range []struct {
		name    string
		facts   exitFacts
		kind    status.EventKind
		crashed bool
		recycle bool
		message string
	}{
		{"recycled", with(func(f *exitFacts) { f.reason, f.returned = scoreboard.ExitBudget, true }),
			status.EventRecycled, false, true, "worker 7 recycled after 3 requests"},
		{"harakiri", with(func(f *exitFacts) { f.reason, f.returned = scoreboard.ExitHarakiri, true }),
			status.EventHarakiri, false, true, "worker 7 exited by harakiri after 3 requests"},
		{"a request hung", with(func(f *exitFacts) { f.reason, f.returned, f.inFlight = scoreboard.ExitHung, true, 1 }),
			status.EventExited, false, false, "worker 7 replaced after 3 requests: a request still ran --graceful-timeout after --request-timeout cancelled it (its stacks are in the log); 1 request in flight cut"},
		{"stopped", with(func(f *exitFacts) { f.retire, f.why, f.reason = retireStop, "stop", scoreboard.ExitSignal }),
			status.EventExited, false, false, "worker 7 exited (stop) after 3 requests"},
		{"stopped with a request cut", with(func(f *exitFacts) {
			f.retire, f.why, f.reason, f.inFlight = retireStop, "stop", scoreboard.ExitSignal, 1
		}), status.EventExited, false, false, "worker 7 exited (stop) after 3 requests; 1 request in flight cut"},
		{"replaced with websockets cut at the grace period's end", with(func(f *exitFacts) {
			f.retire, f.why, f.reason, f.hijacked = retireReplace, "replaced by generation 2", scoreboard.ExitSignal, 2
		}), status.EventExited, false, false, "worker 7 exited (replaced by generation 2) after 3 requests; 2 hijacked connections (websockets) cut"},
		{"scaled down", with(func(f *exitFacts) { f.retire, f.why = retireScale, "scaled down" }),
			status.EventExited, false, false, "worker 7 exited (scaled down) after 3 requests"},
		{"replaced by a generation", with(func(f *exitFacts) { f.retire, f.why = retireReplace, "replaced by generation 2" }),
			status.EventExited, false, false, "worker 7 exited (replaced by generation 2) after 3 requests"},
		{"replaced, its main exits 1 after Serve", with(func(f *exitFacts) {
			f.retire, f.why, f.code, f.returned = retireReplace, "replaced by generation 2", 1, true
		}), status.EventExited, false, false, "worker 7 exited (replaced by generation 2) after 3 requests, then exit status 1 (the app's main exited non-zero after Serve returned nil)"},
		{"recycled for memory", with(func(f *exitFacts) { f.retire, f.why = retireMemory, "memory 530 MB > 512 MB" }),
			status.EventRecycled, false, true, "worker 7 recycled (memory 530 MB > 512 MB) after 3 requests"},
		{"recycled as asked", with(func(f *exitFacts) { f.retire, f.why, f.reason = retireAsked, "asked", scoreboard.ExitSignal }),
			status.EventRecycled, false, true, "worker 7 recycled (asked) after 3 requests"},
		{"killed as asked", with(func(f *exitFacts) { f.killed, f.code, f.signal, f.inFlight = killAsked, -1, syscall.SIGKILL, 1 }),
			status.EventExited, false, false, "worker 7 killed as asked (killed by SIGKILL) after 3 requests; 1 request in flight cut"},
		{"crashed with its request in flight named", with(func(f *exitFacts) {
			f.code, f.signal, f.inFlight, f.request = 2, 0, 1, "GET /boom for 1.2s"
		}), status.EventCrashed, true, false, "worker 7 crashed: exit status 2 after 3 requests; 1 request in flight cut (GET /boom for 1.2s)"},
		{"stopped with its request in flight, not named", with(func(f *exitFacts) {
			f.retire, f.why, f.reason, f.inFlight, f.request = retireStop, "stop", scoreboard.ExitSignal, 1, "GET /slow for 3s"
		}), status.EventExited, false, false, "worker 7 exited (stop) after 3 requests; 1 request in flight cut"},
		{"crashed before ready", with(func(f *exitFacts) { f.ready, f.served, f.code = false, 0, 1 }),
			status.EventCrashed, true, false, "worker 7 exited before it was ready: exit status 1"},
		{"crashed after ready", with(func(f *exitFacts) { f.code, f.signal = -1, syscall.SIGKILL }),
			status.EventCrashed, true, false, "worker 7 crashed: killed by SIGKILL after 3 requests"},
		{"crashed with requests in flight", with(func(f *exitFacts) { f.code, f.signal, f.inFlight = -1, syscall.SIGSEGV, 2 }),
			status.EventCrashed, true, false, "worker 7 crashed: killed by SIGSEGV after 3 requests; 2 requests in flight cut"},
		{"returned without being asked", with(func(f *exitFacts) {}),
			status.EventCrashed, true, false, "worker 7 exited unexpectedly (exit status 0, the app returned without Serve's asking) after 3 requests"},
		{"killed by the grace period of a stop", with(func(f *exitFacts) {
			f.retire, f.why, f.killed, f.code, f.signal, f.inFlight = retireStop, "stop", killStop, -1, syscall.SIGKILL, 1
		}), status.EventExited, false, false, "worker 7 exited (stop) after 3 requests, killed by SIGKILL; 1 request in flight cut"},
		{"killed past its grace period after a reload", with(func(f *exitFacts) {
			f.retire, f.why, f.killed, f.code, f.signal = retireReplace, "replaced by generation 2", killOverdue, -1, syscall.SIGKILL
		}), status.EventExited, false, false, "worker 7 exited (replaced by generation 2) after 3 requests: killed by SIGKILL, still running 2s after --graceful-timeout 30s"},
		{"killed past its grace period after its budget", with(func(f *exitFacts) {
			f.reason, f.killed, f.code, f.signal = scoreboard.ExitBudget, killOverdue, -1, syscall.SIGKILL
		}), status.EventExited, false, false, "worker 7 exited (request budget reached) after 3 requests: killed by SIGKILL, still running 2s after --graceful-timeout 30s"},
		{"overdue but it exited by itself first", with(func(f *exitFacts) {
			f.reason, f.returned, f.killed = scoreboard.ExitBudget, true, killOverdue
		}), status.EventRecycled, false, true, "worker 7 recycled after 3 requests"},
		{"killed by the drain limit", with(func(f *exitFacts) {
			f.reason, f.killed, f.code, f.signal = scoreboard.ExitBudget, killDrainLimit, -1, syscall.SIGKILL
		}), status.EventExited, false, false, "worker 7 killed by SIGKILL after 3 requests: it had drained (request budget reached) the longest"},
		{"frozen", with(func(f *exitFacts) {
			f.retire, f.why, f.killed, f.frozenFor, f.code = retireFrozen, "frozen", killFrozen, 31*time.Second, 2
		}), status.EventCrashed, true, false, "worker 7 crashed: frozen for 31s, then exit status 2 after 3 requests; its stacks are in the log"},
		{"not ready in time", with(func(f *exitFacts) {
			f.ready, f.served, f.retire, f.why, f.killed, f.code, f.signal = false, 0, retireNotReady, "not ready after 30s", killNotReady, -1, syscall.SIGKILL
		}), status.EventCrashed, true, false, "worker 7 killed by SIGKILL (not ready after 30s) after 0 requests"},
		{"its main exits 1 after a budget drain", with(func(f *exitFacts) {
			f.reason, f.returned, f.code = scoreboard.ExitBudget, true, 1
		}), status.EventRecycled, false, true, "worker 7 recycled after 3 requests, then exit status 1 (the app's main exited non-zero after Serve returned nil)"},
		{"exit 1 without Serve returning", with(func(f *exitFacts) { f.code = 1 }),
			status.EventCrashed, true, false, "worker 7 crashed: exit status 1 after 3 requests"},
		{"stopped from outside", with(func(f *exitFacts) { f.reason, f.returned = scoreboard.ExitSignal, true }),
			status.EventExited, false, false, "worker 7 exited on a signal from outside after 3 requests"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := classifyExit(c.facts)
			if o.kind != c.kind || o.crashed != c.crashed || o.recycle != c.recycle {
				t.Errorf("kind %s crashed %v recycle %v, want %s %v %v", o.kind, o.crashed, o.recycle, c.kind, c.crashed, c.recycle)
			}
			if !strings.HasPrefix(o.message, c.message) {
				t.Errorf("message\n %q\nwant it to begin\n %q", o.message, c.message)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[uint64]string{530 << 20: "530 MB", 100 << 20: "100 MB", 3 << 29: "1.5 GB", 12 << 30: "12 GB", 2048: "2 KB", 17: "17 B"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
