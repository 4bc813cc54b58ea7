package prefork

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/starlight-go/starlight/status"
)

// panicMark starts the line a worker logs for a panic in the app that it
// recovered from (answering 500): httpserver logs
// "panic serving METHOD PATH: VALUE" and the stack after it.
var panicMark = []byte("panic serving ")

// panicFrames bounds the lines of stack a panic event carries.
const panicFrames = 10

// stderrTap is what the master does with each batch of a worker's stderr
// lines besides routing them: keep the last words, and report the panics
// the worker recovered from as events. It runs on the pump's goroutine.
func (m *Master) stderrTap(p *proc) func([]byte) {
	return func(batch []byte) {
		p.words.keep(batch)
		if bytes.Contains(batch, panicMark) {
			m.notePanics(p, batch)
		}
	}
}

// notePanics reports each recovered panic in batch, with the request, the
// panic's value, the top of its stack and how many this worker has had.
// The worker's own lines are in the log already: the event goes to the
// dashboard and the control clients only.
func (m *Master) notePanics(p *proc, batch []byte) {
	lines := strings.Split(strings.TrimRight(string(batch), "\n"), "\n")
	for i, l := range lines {
		at := strings.Index(l, string(panicMark))
		if at < 0 {
			continue
		}
		what := l[at+len(panicMark):]
		stack := appFrames(lines[i+1:])
		n := uint64(0)
		if m.board != nil {
			n = uint64(m.board.Slot(p.slot).Panics.Load())
		}
		e := status.Event{Time: time.Now(), Kind: status.EventPanic, PID: p.pid, Slot: p.slot, Generation: p.gen,
			Message: fmt.Sprintf("worker %d recovered from a panic (500) serving %s; %s of this worker", p.pid, what, plural(int(n), "panic")),
			Detail:  strings.Join(stack, "\n")}
		if m.obs != nil {
			m.obs.Event(e)
		}
		if m.ctl != nil {
			m.ctl.Event(e)
		}
	}
}

// appFrames is the top of a recovered panic's stack as the app sees it:
// the goroutine's line, then the frames under the panic (the recovery's
// own frames, debug.Stack and the server's finish, are left out), at most
// panicFrames lines, up to the next panic's line.
func appFrames(lines []string) []string {
	var out []string
	skipping, fileLine := false, false
	for _, s := range lines {
		if len(out) == panicFrames || strings.Contains(s, string(panicMark)) {
			break
		}
		t := strings.TrimSpace(s)
		switch {
		case t == "":
			continue
		case strings.HasPrefix(t, "goroutine ") && len(out) == 0:
			out = append(out, s)
			skipping = true // until panic(...) and its file line
			continue
		case skipping && strings.HasPrefix(t, "panic("):
			skipping, fileLine = false, true
			continue
		case fileLine:
			fileLine = false
			continue // panic's own file line
		case skipping && len(out) > 0 && !strings.HasPrefix(s, "\t") && !strings.HasPrefix(s, " "):
			continue // a frame of the recovery
		case skipping:
			continue // its file line
		}
		out = append(out, s)
	}
	if len(out) <= 1 { // not the stack of a recovery: as it came
		out = out[:0]
		for _, s := range lines {
			if len(out) == panicFrames || strings.Contains(s, string(panicMark)) {
				break
			}
			if strings.TrimSpace(s) != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
