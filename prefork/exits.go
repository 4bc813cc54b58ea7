package prefork

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
)

// retireReason says why the master asked a worker to exit.
type retireReason uint8

const (
	notRetired     retireReason = iota
	retireScale                 // scaled down
	retireReplace               // replaced by a new generation
	retireRollback              // its generation's rollout was abandoned
	retireStop                  // the master stops
	retireNotReady              // not ready in time: killed
	retireMemory                // over --max-worker-memory: a recycle
	retireFrozen                // no heartbeat for --worker-timeout: killed
	retireAsked                 // a user interface asked for it: a recycle
)

// killReason says why the master sent a worker SIGKILL.
type killReason uint8

const (
	notKilled      killReason = iota
	killStop                  // an immediate stop, or a graceful one out of time
	killNotReady              // not ready after readyTimeout
	killFrozen                // frozen: asked for its stacks, then killed
	killOverdue               // still running past --graceful-timeout after it stopped accepting
	killDrainLimit            // more workers draining than drainLimit allows
	killAsked                 // a user interface asked for it
)

// exitFacts is what the master knows when a worker exits.
type exitFacts struct {
	pid       int
	served    uint64         // requests it completed
	inFlight  int            // requests begun and never ended, or cut
	hijacked  int            // connections the app took over (websockets) still open, or cut
	code      int            // exit status; -1 when killed by a signal
	signal    syscall.Signal // the signal that killed it; 0 if it exited
	retire    retireReason
	why       string // retire's wording: "replaced by generation 3", "memory 530 MB > 512 MB"
	killed    killReason
	frozenFor time.Duration
	reason    uint32 // the exit reason the worker recorded (scoreboard.Exit...)
	returned  bool   // its Serve returned nil
	ready     bool   // it had served
	grace     time.Duration
	request   string // the oldest request in flight and for how long: "GET /x for 1.2s"
}

// crashContextLines bounds the lines of a worker's stderr a crash event
// carries: a panic's message and the top frames of its stack.
const crashContextLines = 12

// exitOutcome is what an exit means: the event to report, and whether it
// counts as a crash (crash counter, backoff) or a recycle.
type exitOutcome struct {
	kind    status.EventKind
	crashed bool
	recycle bool
	message string
}

// classifyExit says what an exit means. It is pure: every fact it needs is
// in f.
func classifyExit(f exitFacts) exitOutcome {
	how := "exit status " + strconv.Itoa(f.code)
	if f.signal != 0 {
		how = "killed by " + signalName(f.signal)
	}
	served := plural(int(f.served), "request")
	// Serve returned nil (after a drain for a reason of its own: budget,
	// harakiri, a signal): a non-zero status after that is the app's main
	// (log.Fatal(httpserver.Serve(h)) exits 1 on nil), not a crash.
	clean := f.code == 0 || (f.returned && f.signal == 0)
	after := ""
	if clean && f.code != 0 {
		after = fmt.Sprintf(", then %s (the app's main exited non-zero after Serve returned nil)", how)
	}
	var o exitOutcome
	switch {
	case f.killed == killFrozen:
		o = exitOutcome{kind: status.EventCrashed, crashed: true,
			message: fmt.Sprintf("worker %d crashed: frozen for %s, then %s after %s; its stacks are in the log", f.pid, f.frozenFor.Round(time.Second), how, served)}
	case f.killed == killOverdue && !clean:
		what := f.why
		if f.retire == notRetired {
			what = drainWhy(f.reason)
		}
		o = exitOutcome{kind: status.EventExited,
			message: fmt.Sprintf("worker %d exited (%s) after %s: %s, still running %s after --graceful-timeout %s", f.pid, what, served, how, overdueMargin, f.grace)}
	case f.killed == killDrainLimit && !clean:
		o = exitOutcome{kind: status.EventExited,
			message: fmt.Sprintf("worker %d %s after %s: it had drained (%s) the longest of more workers draining than the pool allows", f.pid, how, served, drainWhy(f.reason))}
	case f.killed == killAsked:
		o = exitOutcome{kind: status.EventExited,
			message: fmt.Sprintf("worker %d killed as asked (%s) after %s", f.pid, how, served)}
	case (f.retire == retireMemory || f.retire == retireAsked) && (clean || f.signal == syscall.SIGTERM):
		o = exitOutcome{kind: status.EventRecycled, recycle: true,
			message: fmt.Sprintf("worker %d recycled (%s) after %s%s", f.pid, f.why, served, after)}
	case f.retire != notRetired && (clean || f.signal == syscall.SIGTERM || f.retire == retireStop):
		o = exitOutcome{kind: status.EventExited,
			message: fmt.Sprintf("worker %d exited (%s) after %s", f.pid, f.why, served)}
		if after != "" {
			o.message += after
		} else if f.code != 0 {
			o.message += ", " + how
		}
	case f.retire != notRetired:
		o = exitOutcome{kind: status.EventCrashed, crashed: true,
			message: fmt.Sprintf("worker %d %s (%s) after %s", f.pid, how, f.why, served)}
	case clean && f.reason == scoreboard.ExitBudget:
		o = exitOutcome{kind: status.EventRecycled, recycle: true,
			message: fmt.Sprintf("worker %d recycled after %s%s", f.pid, served, after)}
	case clean && f.reason == scoreboard.ExitHarakiri:
		o = exitOutcome{kind: status.EventHarakiri, recycle: true,
			message: fmt.Sprintf("worker %d exited by harakiri after %s%s", f.pid, served, after)}
	case clean && f.reason == scoreboard.ExitHung:
		o = exitOutcome{kind: status.EventExited,
			message: fmt.Sprintf("worker %d replaced after %s: a request still ran --graceful-timeout after --request-timeout cancelled it (its stacks are in the log)%s", f.pid, served, after)}
	case clean && f.reason == scoreboard.ExitSignal:
		o = exitOutcome{kind: status.EventExited,
			message: fmt.Sprintf("worker %d exited on a signal from outside after %s%s", f.pid, served, after)}
	case !f.ready:
		o = exitOutcome{kind: status.EventCrashed, crashed: true,
			message: fmt.Sprintf("worker %d exited before it was ready: %s", f.pid, how)}
	case f.code == 0:
		o = exitOutcome{kind: status.EventCrashed, crashed: true,
			message: fmt.Sprintf("worker %d exited unexpectedly (exit status 0, the app returned without Serve's asking) after %s", f.pid, served)}
	default:
		o = exitOutcome{kind: status.EventCrashed, crashed: true,
			message: fmt.Sprintf("worker %d crashed: %s after %s", f.pid, how, served)}
	}
	if f.inFlight > 0 {
		o.message += fmt.Sprintf("; %s in flight cut", plural(f.inFlight, "request"))
		// A crash names what it cut short (the oldest request in flight).
		switch {
		case !o.crashed:
		case f.request != "" && f.inFlight == 1:
			o.message += " (" + f.request + ")"
		case f.request != "":
			o.message += " (the oldest: " + f.request + ")"
		}
	}
	if f.hijacked > 0 {
		o.message += fmt.Sprintf("; %s (websockets) cut", plural(f.hijacked, "hijacked connection"))
	}
	return o
}

// drainWhy names why a worker drained on its own.
func drainWhy(reason uint32) string {
	switch reason {
	case scoreboard.ExitBudget:
		return "request budget reached"
	case scoreboard.ExitHarakiri:
		return "harakiri"
	case scoreboard.ExitHung:
		return "a request hung"
	}
	return "draining"
}

// reaped handles a worker's exit.
func (m *Master) reaped(e exitMsg) {
	p := e.p
	now := time.Now()
	// A worker that still counted towards the pool leaves a place to fill:
	// after a crash, that replacement is the one the backoff holds.
	gap := p.serving()
	if m.procs[p.pid] == p {
		delete(m.procs, p.pid)
	}
	slot := m.board.Slot(p.slot)
	reqs := slot.Requests.Load()
	// Requests begun and never ended (the worker was killed), or cut when
	// its grace period ran out (their handlers, if they returned, did not
	// count them as served).
	inFlight := max(slot.Active.Load(), slot.Cut.Load())
	// Connections the app took over and still held (the worker was
	// killed), or closed when its grace period ran out.
	hijacked := max(slot.Hijacked.Load(), slot.HijackedCut.Load())
	wasReady := p.ready || slot.State.Load() != scoreboard.Starting
	f := exitFacts{
		pid: p.pid, served: reqs, inFlight: int(inFlight), hijacked: int(hijacked), code: e.status.ExitStatus(),
		retire: p.retire, why: p.why, killed: p.killed, frozenFor: p.frozenFor,
		reason: slot.ExitReason.Load(), returned: slot.Returned.Load() == 1, ready: wasReady,
		grace: m.cfg.GracefulTimeout,
	}
	if e.status.Signaled() {
		f.signal = e.status.Signal()
	}
	if line, start := slot.InFlight(); line != "" && slot.Active.Load() > 0 {
		f.request = fmt.Sprintf("%s for %s", line, now.Sub(time.Unix(0, start)).Round(time.Millisecond))
	}
	slot.State.Store(scoreboard.Free)
	slot.PID.Store(0)
	m.freeSlots = append(m.freeSlots, p.slot)
	m.mu.Lock()
	// The worker leaves the view as its requests join the retired ones,
	// in one step: a snapshot never counts them twice, or not at all.
	m.view.retired += reqs
	m.view.retiredHTTP.Add(slotHTTP(slot))
	m.view.procs = slices.DeleteFunc(slices.Clone(m.view.procs), func(v procView) bool { return v.pid == p.pid })
	m.view.seq++
	m.mu.Unlock()
	m.removeStaleBinary()

	o := classifyExit(f)
	ev := status.Event{Kind: o.kind, PID: p.pid, Slot: p.slot, Generation: p.gen, Requests: reqs, ExitCode: f.code, Message: o.message}
	if f.signal != 0 {
		ev.Signal = signalName(f.signal)
	}
	m.mu.Lock()
	if o.recycle {
		m.view.recycles++
	}
	if o.crashed {
		m.view.crashes++
	}
	m.mu.Unlock()
	switch {
	case p.killed == killFrozen:
		// The stacks went to the log with the rest of the worker's
		// stderr: the event carries them for a dashboard, not twice.
		ev.Detail = p.words.stacks()
		m.report(ev, false)
	case o.crashed && wasReady:
		// What it wrote last (a panic and the top of its stack) went to
		// the log likewise.
		ev.Detail = p.words.crashLines(crashContextLines)
		m.report(ev, false)
	default:
		m.emit(ev)
	}
	if !o.crashed || m.stopping > 0 {
		return
	}
	how := "exit status " + strconv.Itoa(f.code)
	if f.signal != 0 {
		how = "killed by " + ev.Signal
	}
	if wasReady || p.killed == killFrozen {
		m.noteCrash(p.gen, now, gap, true)
		return
	}
	if r := m.roll; r != nil && p.gen == r.gen {
		r.fails++
		if said := p.words.said(); listensItself(said) {
			how += fmt.Sprintf(", after writing %q; %s", said, listenHint)
		}
		if r.fails >= rolloutFailLimit {
			m.rollback(fmt.Sprintf("%d workers of generation %d exited before they were ready (last: %s)", r.fails, r.gen, how))
			return
		}
		m.noteCrash(p.gen, now, gap, false)
		return
	}
	if m.roll != nil {
		// An old generation's worker, started before the rollout: the
		// new generation decides now whether the app can start.
		m.noteCrash(p.gen, now, gap, false)
		return
	}
	last := how
	said := p.words.said()
	switch {
	case said != "":
		last += fmt.Sprintf(", after writing %q", said)
		if listensItself(said) {
			// Not converted yet: it calls http.ListenAndServe on the
			// address starlight holds. No backoff will change that.
			last += "; " + listenHint
			if !m.everReady {
				m.startFails = max(m.startFails, startFailLimit-1)
			}
		}
	case f.code == 0 && f.signal == 0:
		last += " without a word: does its main call httpserver.Serve?"
	}
	m.startFailed(now, p.gen, gap, "exited before they were ready", last, said != "")
}

// crashState is the crash streak of one generation: crashes of another
// generation (an old one draining, a new one rolling in) hold back
// nothing of this one's.
type crashState struct {
	gen    int
	streak int       // crashes in a row, none further apart than crashQuiet
	last   time.Time // the last crash
	till   time.Time // replacements of crashed workers wait until then
	// owed is how many crashed workers' places are still empty: only
	// their replacements wait for the backoff; a worker that exited
	// normally is replaced at once.
	owed int
	// afterReady: the last crash was of a worker that had served, so
	// the app can start; while none serves, one replacement goes
	// ahead of the backoff.
	afterReady bool
}

// noteCrash counts a crash of a worker of generation gen; gap says
// whether its place in the pool is empty (not already being refilled).
func (m *Master) noteCrash(gen int, now time.Time, gap, afterReady bool) {
	c := &m.crash
	if c.gen != gen {
		*c = crashState{gen: gen}
	}
	c.streak++
	c.last = now
	c.afterReady = afterReady
	if gap {
		c.owed = min(c.owed+1, max(m.target, 1))
	}
	if c.streak > 1 {
		d := min(100*time.Millisecond<<min(c.streak-2, 10), maxBackoff)
		c.till = now.Add(d)
		m.emit(status.Event{Kind: status.EventBackoff, Generation: gen, Message: fmt.Sprintf("%d crashes in a row: next worker in %s", c.streak, d.Round(time.Millisecond))})
	}
}

// crashHold reports whether the replacement of a crashed worker of
// generation gen waits now; starting is how many workers are starting.
func (m *Master) crashHold(gen int, now time.Time, starting int) bool {
	c := &m.crash
	if c.gen != gen || c.owed == 0 {
		return false
	}
	// After crashes, one replacement at a time until one is ready.
	return now.Before(c.till) || (c.streak > 1 && starting > 0)
}

// startFailed counts a worker of generation gen that never got ready
// (what: how they failed, last: how the last one did, said: whether it
// wrote anything, which the message then says where to find). Before any
// worker was ever ready, startFailLimit of them in a row mean the app
// cannot start: the master waits for a change when it watches the app,
// else stops and exits 1. Otherwise the next start backs off.
func (m *Master) startFailed(now time.Time, gen int, gap bool, what, last string, said bool) {
	m.startFails++
	if m.everReady || m.startFails < startFailLimit {
		m.noteCrash(gen, now, gap, false)
		return
	}
	msg := fmt.Sprintf("the app cannot start: %d workers in a row %s (last: %s)", m.startFails, what, last)
	if where := m.outputWhere(); where != "" && said {
		msg += "; " + where
	}
	if m.watching() {
		m.halt(msg)
		m.emit(status.Event{Kind: status.EventError, Message: msg + "; waiting for a change"})
		return
	}
	m.failure = errors.New(msg)
	m.emit(status.Event{Kind: status.EventError, Message: msg})
	m.stop(false, "the app cannot start")
}

// outputWhere says where the workers' output went, for a message about a
// failure: "" when it was shown nowhere a user will look.
func (m *Master) outputWhere() string {
	switch {
	case m.cfg.ErrorLog != "":
		return "its output is in " + m.cfg.ErrorLog
	case m.daemonized():
		return "its output was discarded (-D without --error-log)"
	case m.cfg.CaptureOutput:
		return ""
	}
	return "its output is above"
}

// halt stops spawning workers of an app that cannot start until a change
// gives a new generation to try.
func (m *Master) halt(why string) { m.halted, m.haltReason = true, why }

// listensItself reports whether a worker's last words say it failed to
// bind an address: an app that listens by itself (http.ListenAndServe)
// where starlight already holds the socket.
func listensItself(said string) bool {
	return strings.Contains(said, "address already in use")
}

// listenHint is what to do about it.
const listenHint = "the app listens by itself (http.ListenAndServe?) on an address starlight holds: hand its handler to httpserver.Serve, or its *http.Server to httpserver.ServeServer, and starlight's listeners are used"
