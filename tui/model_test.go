package tui

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"
	"github.com/starlight-go/starlight/status"
)

func TestKeysSendCommands(t *testing.T) {
	cases := []struct {
		keys []string
		want []status.CommandKind
	}{
		{[]string{"r"}, []status.CommandKind{status.CmdReload}},
		{[]string{"+", "=", "-"}, []status.CommandKind{status.CmdScaleUp, status.CmdScaleUp, status.CmdScaleDown}},
		{[]string{"q"}, []status.CommandKind{status.CmdStop}},
		{[]string{"q", "q"}, []status.CommandKind{status.CmdStop}},
		{[]string{"ctrl+c"}, []status.CommandKind{status.CmdStop}},
		{[]string{"ctrl+c", "ctrl+c"}, []status.CommandKind{status.CmdStop, status.CmdForceStop}},
		{[]string{"q", "ctrl+c"}, []status.CommandKind{status.CmdStop, status.CmdForceStop}},
		{[]string{"r+-"}, []status.CommandKind{status.CmdReload, status.CmdScaleUp, status.CmdScaleDown}},
		{[]string{"a", "a"}, []status.CommandKind{status.CmdAccessOn, status.CmdAccessOff}},
		{[]string{"f", "c", "tab", "?", "up", "z"}, nil},
		{[]string{"x"}, nil}, // no worker selected: the Logs pane has the focus
	}
	for _, c := range cases {
		t.Run(strings.Join(c.keys, ","), func(t *testing.T) {
			hs := newHarness(t, 80, 24)
			hs.loadFixture()
			for _, k := range c.keys {
				hs.key(k)
			}
			if got := hs.master.commands(); !reflect.DeepEqual(got, c.want) {
				t.Errorf("commands = %v, want %v", got, c.want)
			}
		})
	}
}

func TestStopShowsAndKeepsRendering(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	hs.key("q")
	view := ansi.Strip(hs.m.View())
	for _, want := range []string{"stopping…", "in-flight requests finish", "ctrl+c again"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q after q:\n%s", want, view)
		}
	}
	// Ticks go on while the master drains.
	hs.clock = hs.clock.Add(tickInterval)
	hs.master.set(fixtureSnapshot(hs.clock, 999999))
	hs.tick()
	if !strings.Contains(ansi.Strip(hs.m.View()), "999,999") {
		t.Error("the view stopped following the master after q")
	}
	hs.key("ctrl+c")
	if view := ansi.Strip(hs.m.View()); !strings.Contains(view, "stopping now") {
		t.Errorf("view lacks the forced stop:\n%s", view)
	}
}

// A stop the master began by itself (a signal) counts as the first ctrl+c.
func TestInterruptWhileMasterStops(t *testing.T) {
	hs := newHarness(t, 80, 24)
	s := fixtureSnapshot(t0, 1)
	s.Stopping = true
	hs.master.set(s)
	hs.tick()
	hs.key("ctrl+c")
	if got := hs.master.commands(); !reflect.DeepEqual(got, []status.CommandKind{status.CmdForceStop}) {
		t.Errorf("commands = %v, want force-stop", got)
	}
}

func TestDoneQuits(t *testing.T) {
	hs := newHarness(t, 80, 24)
	for _, msg := range []tea.Msg{doneMsg{}, inputLostMsg{}} {
		_, cmd := hs.m.Update(msg)
		if cmd == nil {
			t.Fatalf("no command after %T", msg)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%T does not quit the program", msg)
		}
	}
}

func TestWaitEnd(t *testing.T) {
	done, lost := make(chan struct{}), make(chan struct{})
	m := newModel(modelConfig{master: &fakeMaster{}, feed: New(Options{}), done: done, lost: lost, styles: newStyles(newRenderer(nil, true))})
	close(lost)
	if _, ok := m.waitEnd().(inputLostMsg); !ok {
		t.Error("lost input not reported")
	}
	m.cfg.lost = nil
	close(done)
	if _, ok := m.waitEnd().(doneMsg); !ok {
		t.Error("done not reported")
	}
}

func TestTabCyclesFocus(t *testing.T) {
	hs := newHarness(t, 80, 24)
	if hs.m.focus != paneLogs {
		t.Fatalf("focus starts on %v, want logs", hs.m.focus)
	}
	for _, want := range []pane{paneWorkers, paneEvents, paneLogs, paneWorkers} {
		hs.key("tab")
		if hs.m.focus != want {
			t.Errorf("after tab focus is %v, want %v", hs.m.focus, want)
		}
	}
	hs.key("shift+tab")
	if hs.m.focus != paneLogs {
		t.Errorf("after shift+tab focus is %v, want logs", hs.m.focus)
	}
}

func countLines(view, s string) int {
	return strings.Count(ansi.Strip(view), s)
}

func TestAccessToggle(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	if n := countLines(hs.m.View(), `"POST /cart"`); n != 0 {
		t.Errorf("access lines shown by default (%d)", n)
	}
	hs.key("a")
	if !hs.m.showAccess {
		t.Fatal("a did not turn access lines on")
	}
	view := hs.m.View()
	if n := countLines(view, `"POST /cart"`); n != 1 {
		t.Errorf("access line shown %d times after a, want 1", n)
	}
	if !strings.Contains(ansi.Strip(view), "access shown") {
		t.Error("logs title does not say access lines are shown")
	}
	hs.key("a")
	if n := countLines(hs.m.View(), `"POST /cart"`); n != 0 {
		t.Error("second a did not hide access lines")
	}
}

func TestFollowAndScroll(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	for i := 0; i < 100; i++ {
		hs.dash.Log(status.LogLine{PID: 48190, Stream: status.StreamStdout, Text: fmt.Sprintf("line %03d", i)})
	}
	hs.tick()
	if !hs.m.follow || !hs.m.logsVP.AtBottom() {
		t.Fatal("not following the logs by default")
	}
	if !strings.Contains(ansi.Strip(hs.m.View()), "line 099") {
		t.Error("newest line not in view while following")
	}

	hs.key("f")
	if hs.m.follow {
		t.Fatal("f did not stop following")
	}
	hs.key("home") // logs pane has the focus
	if hs.m.logsVP.YOffset != 0 {
		t.Errorf("home: offset %d, want 0", hs.m.logsVP.YOffset)
	}
	for i := 0; i < 10; i++ {
		hs.dash.Log(status.LogLine{PID: 48190, Stream: status.StreamStdout, Text: fmt.Sprintf("more %d", i)})
	}
	hs.tick()
	if hs.m.logsVP.YOffset != 0 {
		t.Error("new lines moved a paused pane")
	}
	if !strings.Contains(ansi.Strip(hs.m.View()), "more") {
		t.Error("paused pane does not say there is more below")
	}

	hs.key("f")
	if !hs.m.follow || !hs.m.logsVP.AtBottom() {
		t.Error("f did not follow again")
	}
	hs.key("up")
	if hs.m.follow {
		t.Error("scrolling up did not pause following")
	}
	hs.key("end")
	if !hs.m.follow {
		t.Error("end did not follow again")
	}
}

func TestClearLogs(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	hs.key("home") // paused, reading older lines
	hs.key("c")
	if len(hs.m.logs) != 0 {
		t.Errorf("%d log lines after c", len(hs.m.logs))
	}
	if !hs.m.follow {
		t.Error("still paused after the logs were cleared")
	}
	view := ansi.Strip(hs.m.View())
	if strings.Contains(view, "listening on inherited fd 3") || !strings.Contains(view, "no output yet") {
		t.Errorf("logs pane not cleared:\n%s", view)
	}
	hs.dash.Log(status.LogLine{PID: 7, Stream: status.StreamStderr, Text: "after clear"})
	hs.tick()
	if !strings.Contains(ansi.Strip(hs.m.View()), "after clear") {
		t.Error("no logs after clearing")
	}
}

func TestWorkersPaneScrolls(t *testing.T) {
	hs := newHarness(t, 80, 24)
	s := fixtureSnapshot(t0, 1)
	s.Workers = nil
	for i := 0; i < 30; i++ {
		s.Workers = append(s.Workers, status.WorkerInfo{Slot: i, PID: 1000 + i, State: status.StateIdle, Started: t0})
	}
	hs.master.set(s)
	hs.tick()
	rows := hs.m.workerRows()
	if rows >= 30 || rows < 1 {
		t.Fatalf("workers pane shows %d of 30 rows", rows)
	}
	view := ansi.Strip(hs.m.View())
	checkScreen(t, hs.m.View(), 80, 24)
	if !strings.Contains(view, fmt.Sprintf("1–%d of 30", rows)) {
		t.Errorf("no scroll position in the workers pane:\n%s", view)
	}
	if !strings.Contains(view, "╭─  Events") && !strings.Contains(view, "Events") {
		t.Error("events pane pushed out of sight")
	}

	hs.key("tab") // focus workers
	hs.key("down")
	if hs.m.workerTop != 0 || hs.m.sel.pid != 1001 {
		t.Errorf("down: top %d, selected %d; want 0 and 1001", hs.m.workerTop, hs.m.sel.pid)
	}
	for range rows - 1 { // the selection leaves the view at the bottom: it scrolls
		hs.key("down")
	}
	if hs.m.workerTop != 1 {
		t.Errorf("down %d times: top %d, want 1", rows, hs.m.workerTop)
	}
	hs.key("end")
	if hs.m.workerTop != 30-rows {
		t.Errorf("end: top %d, want %d", hs.m.workerTop, 30-rows)
	}
	if !strings.Contains(ansi.Strip(hs.m.View()), " 1029 ") {
		t.Error("last worker not shown after end")
	}
	hs.key("pgup")
	hs.key("home")
	if hs.m.workerTop != 0 {
		t.Errorf("home: top %d", hs.m.workerTop)
	}
}

func TestWindowSizeRelayouts(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	checkScreen(t, hs.m.View(), 80, 24)
	if hs.m.logsVP.Width != 76 {
		t.Errorf("logs width %d at 80 columns", hs.m.logsVP.Width)
	}
	small := hs.m.logsVP.Height

	hs.send(tea.WindowSizeMsg{Width: 120, Height: 40})
	checkScreen(t, hs.m.View(), 120, 40)
	if hs.m.logsVP.Width != 116 || hs.m.logsVP.Height <= small {
		t.Errorf("logs pane %d×%d after growing to 120×40", hs.m.logsVP.Width, hs.m.logsVP.Height)
	}
	l := hs.m.layout()
	if sum := l.header + l.workers + l.events + l.logs + l.footer; sum != 40 {
		t.Errorf("layout adds up to %d rows, want 40", sum)
	}
	// The long log line is cut for the width it is shown at.
	if !strings.Contains(ansi.Strip(hs.m.View()), "eighty columns and more") {
		t.Error("log line still cut for 80 columns at 120")
	}

	hs.send(tea.WindowSizeMsg{Width: 30, Height: 8})
	view := hs.m.View()
	checkScreen(t, view, 30, 8)
	if !strings.Contains(ansi.Strip(view), "too small") {
		t.Errorf("no word about a tiny terminal:\n%s", ansi.Strip(view))
	}
}

func TestStuckWorkerHighlighted(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	view := ansi.Strip(hs.m.View())
	if !strings.Contains(view, "▲ busy") || !strings.Contains(view, "1 slow") {
		t.Errorf("the worker busy for 7.4s is not marked:\n%s", view)
	}
	if strings.Count(view, "▲") != 1 {
		t.Error("a worker busy for less than 3s is marked slow")
	}
}

func TestHeader(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	view := ansi.Strip(hs.m.View())
	for _, want := range []string{
		"./cmd/shop", "http://127.0.0.1:8080", "unix:/tmp/shop.sock", "gen 3", "up 1h02m",
		"workers 5/6", "requests 120,154", "req/s", "recycles 4", "crashes 1", "reloads 2", "reload → gen 3: 3/6 ready · 1 old draining · 1.4s ▰▰▰▰▱▱▱▱",
		"73045/∞", "412/1000", "7.9M", "1.2G",
	} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q", want)
		}
	}
	if !strings.ContainsAny(view, "▁▂▃▄▅▆▇█") {
		t.Error("no sparkline")
	}
}

// A master that found the app unable to start says so in the header and
// in the empty Workers pane.
func TestHaltedApp(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.master.set(status.Snapshot{Time: t0, Started: t0.Add(-time.Minute), App: "./app", Generation: 1, Target: 2, Halted: true})
	hs.tick()
	view := ansi.Strip(hs.m.View())
	for _, want := range []string{"app cannot start", "no workers: the app cannot start (see Events); waiting for a change, or r to retry"} {
		if !strings.Contains(view, want) {
			t.Errorf("view lacks %q:\n%s", want, view)
		}
	}
}

// A failed build's output is cut in the Events pane, which says where the
// rest is, and is in the Logs pane in full.
func TestBuildOutputInLogs(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.master.set(status.Snapshot{Time: t0, Started: t0.Add(-time.Minute), App: "./app", Generation: 1, Target: 2})
	var out []string
	for i := 1; i <= 12; i++ {
		out = append(out, fmt.Sprintf("./main.go:%d:2: undefined: thing%d", i, i))
	}
	hs.dash.Event(status.Event{Time: t0, Kind: status.EventReloadFailed, Generation: 2,
		Message: "build of generation 2 failed; generation 1 keeps serving: build ./app: exit status 1",
		Detail:  "# app\n" + strings.Join(out, "\n") + "\n"})
	hs.tick()
	view := ansi.Strip(hs.m.View())
	if !strings.Contains(view, "… 6 more lines (all in Logs)") {
		t.Errorf("the Events pane does not say where the rest of the output is:\n%s", view)
	}
	if n := strings.Count(view, "undefined: thing12"); n != 1 {
		t.Errorf("the last line of the output shows %d times, want once (in Logs):\n%s", n, view)
	}
}

func TestEventDetail(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	view := ansi.Strip(hs.m.View())
	for _, want := range []string{"reload-failed", "./cart.go:88:9: undefined: totl", "./cart.go:91:2: missing return"} {
		if !strings.Contains(view, want) {
			t.Errorf("events pane lacks %q", want)
		}
	}
}

func TestLogsPrefixAndMarks(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	view := ansi.Strip(hs.m.View())
	for _, want := range []string{
		"48190 │ listening on inherited fd 3",
		"48201 ┃ warn: payment gateway slow (2.3s)   retrying", // stderr, escapes gone, tab expanded
	} {
		if !strings.Contains(view, want) {
			t.Errorf("logs pane lacks %q", want)
		}
	}
	hs.key("a")
	if !strings.Contains(ansi.Strip(hs.m.View()), `48201 › 127.0.0.1 "POST /cart"`) {
		t.Error("access line not marked")
	}
}

func TestLogsRingBounded(t *testing.T) {
	hs := newHarness(t, 80, 24)
	for round := 0; round < 3; round++ {
		for i := 0; i < maxLogLines; i++ {
			hs.dash.Log(status.LogLine{PID: 1, Text: fmt.Sprintf("r%d l%d", round, i)})
		}
		hs.tick()
	}
	if len(hs.m.logs) != maxLogLines {
		t.Errorf("model holds %d lines, want %d", len(hs.m.logs), maxLogLines)
	}
	if got := hs.m.logs[len(hs.m.logs)-1].line.Text; got != fmt.Sprintf("r2 l%d", maxLogLines-1) {
		t.Errorf("newest line %q", got)
	}
}

func TestRates(t *testing.T) {
	var r rates
	at := t0
	s := status.Snapshot{Workers: []status.WorkerInfo{{PID: 1, Started: at.Add(-time.Hour)}}}
	for i := 0; i < 12; i++ {
		s.Requests += 10
		s.Workers[0].Requests += 5
		r = r.observe(s, at)
		at = at.Add(tickInterval)
	}
	if r.total < 39.9 || r.total > 40.1 {
		t.Errorf("total rate %.2f, want 40", r.total)
	}
	if v, ok := r.worker(1); !ok || v < 19.9 || v > 20.1 {
		t.Errorf("worker rate %.2f %v, want 20", v, ok)
	}
	if len(r.history) != 2 {
		t.Errorf("history has %d points after ~2.75s, want 2", len(r.history))
	}
	if len(r.samples) > 13 {
		t.Errorf("%d samples kept", len(r.samples))
	}
}

// Commands reach the master in the order they were asked for, whichever
// goroutine runs first.
func TestCommandOrder(t *testing.T) {
	hs := newHarness(t, 80, 24)
	var cmds []tea.Cmd
	for _, k := range []string{"r", "+", "-", "q", "ctrl+c"} {
		next, cmd := hs.m.Update(keyMsg(k))
		hs.m = next.(model)
		cmds = append(cmds, cmd)
	}
	if hs.m.sent != 5 {
		t.Fatalf("%d commands counted, want 5", hs.m.sent)
	}
	var wg sync.WaitGroup
	for i := len(cmds) - 1; i >= 0; i-- { // start them backwards
		wg.Add(1)
		go func(c tea.Cmd) { defer wg.Done(); c() }(cmds[i])
	}
	wg.Wait()
	want := []status.CommandKind{status.CmdReload, status.CmdScaleUp, status.CmdScaleDown, status.CmdStop, status.CmdForceStop}
	if got := hs.master.commands(); !reflect.DeepEqual(got, want) {
		t.Errorf("commands = %v, want %v", got, want)
	}
}
