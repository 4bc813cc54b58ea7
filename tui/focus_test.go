package tui

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
	"github.com/starlight-go/starlight/status"
)

// goldenBoth checks a view at w×h against its golden file without colour
// and, for the same keys, with colour (escapes stripped: the colours change
// nothing but colours, and the focus mark).
func goldenBoth(t *testing.T, name string, w, h int, setup func(hs *harness)) {
	t.Helper()
	plain := newHarness(t, w, h)
	plain.loadFixture()
	setup(plain)
	pv := plain.m.View()
	checkScreen(t, pv, w, h)
	golden(t, fmt.Sprintf("%s_%dx%d", name, w, h), ansi.Strip(pv)+"\n")

	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	r.SetHasDarkBackground(true)
	coloured := newHarnessStyled(t, w, h, newStyles(r))
	coloured.loadFixture()
	setup(coloured)
	cv := coloured.m.View()
	checkScreen(t, cv, w, h)
	if !strings.Contains(cv, "\x1b[38;2;") {
		t.Errorf("%s: the coloured view has no colour", name)
	}
	golden(t, fmt.Sprintf("%s_%dx%d_colour", name, w, h), ansi.Strip(cv)+"\n")
}

var goldenSizes = [][2]int{{80, 24}, {120, 40}}

func TestGoldenFocus(t *testing.T) {
	for _, sz := range goldenSizes {
		goldenBoth(t, "focus", sz[0], sz[1], func(hs *harness) {
			hs.key("tab") // Workers
			hs.key("down")
			hs.key("down") // slot 2, pid 48213
			hs.key("enter")
		})
	}
}

func TestGoldenKillQuestion(t *testing.T) {
	for _, sz := range goldenSizes {
		goldenBoth(t, "kill", sz[0], sz[1], func(hs *harness) {
			hs.key("tab")
			hs.key("down")
			hs.key("K")
		})
	}
}

func TestGoldenSearch(t *testing.T) {
	for _, sz := range goldenSizes {
		goldenBoth(t, "search_prompt", sz[0], sz[1], func(hs *harness) {
			hs.key("/")
			for _, r := range "gET" {
				hs.key(string(r))
			}
		})
		goldenBoth(t, "search", sz[0], sz[1], func(hs *harness) {
			hs.key("/")
			for _, r := range "/(warn|orders)/" {
				hs.key(string(r))
			}
			hs.send(keyMsgType("enter"))
			hs.key("n")
		})
		goldenBoth(t, "search_only", sz[0], sz[1], func(hs *harness) {
			hs.key("/")
			hs.key("o")
			hs.send(keyMsgType("enter"))
			hs.send(keyMsgType("enter"))
		})
	}
}

func TestGoldenProblems(t *testing.T) {
	for _, sz := range goldenSizes {
		goldenBoth(t, "problems", sz[0], sz[1], func(hs *harness) {
			hs.key("tab")
			hs.key("tab") // Events
			hs.key("e")
		})
	}
}

// The selected row is the one x recycles and K kills (after y only), by
// pid; the selection follows the slot to the replacement.
func TestRecycleAndKillSelected(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	hs.key("tab")
	hs.key("down") // slot 1, pid 48201
	hs.key("x")
	var got []status.Command
	for _, c := range hs.master.commandsFull() {
		got = append(got, c)
	}
	if want := []status.Command{{Kind: status.CmdRecycle, PID: 48201}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("x sent %v, want %v", got, want)
	}
	hs.key("K")
	hs.key("n") // not killed
	hs.key("K")
	if !strings.Contains(ansi.Strip(hs.m.View()), "kill worker 48201 with SIGKILL?") {
		t.Errorf("K does not ask:\n%s", ansi.Strip(hs.m.View()))
	}
	hs.key("y")
	cmds := hs.master.commandsFull()
	if want := (status.Command{Kind: status.CmdKill, PID: 48201}); len(cmds) != 2 || cmds[1] != want {
		t.Fatalf("commands %v, want a recycle then %v", cmds, want)
	}

	// The worker goes; its replacement takes slot 1: the selection and
	// the logs filter follow it.
	hs.key("enter")
	if hs.m.logPID != 48201 {
		t.Fatalf("enter filtered the logs to %d", hs.m.logPID)
	}
	hs.clock = hs.clock.Add(time.Second)
	s := fixtureSnapshot(hs.clock, 130000)
	for i, w := range s.Workers {
		if w.PID == 48201 {
			s.Workers[i] = status.WorkerInfo{Slot: 1, PID: 49000, Generation: 3, State: status.StateStarting, Started: hs.clock}
		}
	}
	hs.master.set(s)
	hs.tick()
	if hs.m.sel.pid != 49000 || hs.m.logPID != 49000 {
		t.Errorf("after the replacement: selected %d, logs of %d; want 49000", hs.m.sel.pid, hs.m.logPID)
	}
}

// Enter in the Workers pane keeps that worker's lines, its exit among
// them; esc shows every worker's again.
func TestFocusFiltersLogs(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	hs.key("tab")
	hs.key("down") // 48201
	hs.key("enter")
	hs.dash.Event(status.Event{Time: t0, Kind: status.EventCrashed, PID: 48201, Slot: 1, Message: "worker 48201 crashed: exit status 2"})
	hs.dash.Event(status.Event{Time: t0, Kind: status.EventCrashed, PID: 48190, Slot: 0, Message: "worker 48190 crashed: exit status 2"})
	hs.tick()
	logs := paneText(ansi.Strip(hs.m.View()), "Logs")
	for _, want := range []string{"payment gateway slow", "worker 48201 crashed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the logs of 48201 lack %q:\n%s", want, logs)
		}
	}
	for _, not := range []string{"cache warm", "listening on inherited", "worker 48190 crashed"} {
		if strings.Contains(logs, not) {
			t.Errorf("the logs of 48201 show %q:\n%s", not, logs)
		}
	}
	hs.send(keyMsgType("esc"))
	logs = paneText(ansi.Strip(hs.m.View()), "Logs")
	if !strings.Contains(logs, "cache warm") || strings.Contains(logs, "worker 48201 crashed") {
		t.Errorf("after esc the logs are not every worker's lines:\n%s", logs)
	}
}

// A search finds lines written before and after it began; n and N move
// between them and wrap; enter keeps only them; esc clears it.
func TestSearch(t *testing.T) {
	hs := newHarness(t, 120, 40)
	hs.loadFixture()
	hs.key("/")
	for _, r := range "PAGE" {
		hs.key(string(r))
	}
	hs.send(keyMsgType("enter"))
	if len(hs.m.matches) != 1 {
		t.Fatalf("matches %v for PAGE, want 1 (the orders line)", hs.m.matches)
	}
	hs.dash.Log(status.LogLine{Time: t0, PID: 48190, Stream: status.StreamStdout, Text: "second page served"})
	hs.tick()
	if len(hs.m.matches) != 2 {
		t.Fatalf("matches %v after a matching line arrived, want 2", hs.m.matches)
	}
	first := hs.m.search.cur
	hs.key("n")
	second := hs.m.search.cur
	hs.key("n")
	if second == first || hs.m.search.cur != first {
		t.Errorf("n: %d, %d, %d; want to move to the other match and back", first, second, hs.m.search.cur)
	}
	hs.key("N")
	if hs.m.search.cur != second {
		t.Errorf("N: %d, want %d", hs.m.search.cur, second)
	}
	hs.send(keyMsgType("enter"))
	logs := paneText(ansi.Strip(hs.m.View()), "Logs")
	if !strings.Contains(logs, "second page served") || strings.Contains(logs, "cache warm") {
		t.Errorf("enter does not keep the matching lines alone:\n%s", logs)
	}
	hs.send(keyMsgType("esc"))
	logs = paneText(ansi.Strip(hs.m.View()), "Logs")
	if !strings.Contains(logs, "cache warm") || hs.m.search.active() {
		t.Errorf("esc does not clear the search:\n%s", logs)
	}
	// A regular expression between slashes; a bad one says so.
	hs.key("/")
	for _, r := range "/^warn: .*slow/" {
		hs.key(string(r))
	}
	if len(hs.m.matches) != 1 {
		t.Errorf("/^warn: .*slow/ matches %d lines, want 1", len(hs.m.matches))
	}
	hs.send(keyMsgType("esc"))
	hs.key("/")
	for _, r := range "/(/" {
		hs.key(string(r))
	}
	if !strings.Contains(ansi.Strip(hs.m.View()), "not a regular expression") {
		t.Error("a bad regular expression is not reported")
	}
}

// Under a flood (the queue full at every tick) with a search on, a key is
// answered in well under 100 ms.
func TestKeysUnderFlood(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	hs.key("/")
	hs.key("x")
	hs.send(keyMsgType("enter"))
	for tick := 0; tick < 5; tick++ {
		for i := 0; i < logQueue; i++ {
			hs.dash.Log(status.LogLine{Time: t0, PID: 48190 + i%3, Stream: status.StreamStdout, Text: fmt.Sprintf("flood line %d of tick %d with some text after it", i, tick)})
		}
		hs.tick()
	}
	budget := 100 * time.Millisecond
	if raceEnabled {
		budget *= 10 // the race detector's cost, not the dashboard's
	}
	for _, k := range []string{"n", "N", "tab", "down", "/"} {
		start := time.Now()
		hs.key(k)
		hs.m.View()
		if d := time.Since(start); d > budget {
			t.Errorf("key %q took %v with %d lines", k, d, len(hs.m.logs))
		}
	}
}

// paneText is the inside of the pane titled title.
func paneText(view, title string) string {
	var out []string
	in := false
	for _, l := range strings.Split(view, "\n") {
		switch {
		case strings.HasPrefix(l, "╭") && strings.Contains(l, " "+title+" "):
			in = true
		case in && strings.HasPrefix(l, "╰"):
			return strings.Join(out, "\n")
		case in:
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
