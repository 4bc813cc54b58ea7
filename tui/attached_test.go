package tui

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/starlight-go/starlight/status"
)

// newAttachedHarness is newHarness for a dashboard attached to a server
// that runs on its own (starlight attach).
func newAttachedHarness(t *testing.T, w, h int) *harness {
	t.Helper()
	hs := &harness{t: t, master: &fakeMaster{}, dash: New(Options{NoColor: true, Attached: true}), clock: t0}
	hs.m = newModel(modelConfig{
		master:   hs.master,
		feed:     hs.dash,
		done:     make(chan struct{}),
		now:      func() time.Time { return hs.clock },
		loc:      time.UTC,
		styles:   newStyles(newRenderer(io.Discard, true)),
		attached: true,
	})
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

// Attached, q detaches and asks the server for nothing; the footer says
// so; Q asks first, and only y stops the server.
func TestAttachedKeys(t *testing.T) {
	hs := newAttachedHarness(t, 100, 30)
	hs.loadFixture()
	if view := ansi.Strip(hs.m.View()); !strings.Contains(view, "q detach") {
		t.Errorf("the footer does not say q detach:\n%s", view)
	}
	hs.key("Q")
	if view := ansi.Strip(hs.m.View()); !strings.Contains(view, "stop the server?") {
		t.Errorf("Q does not ask:\n%s", view)
	}
	hs.key("n")
	hs.key("Q")
	hs.key("y")
	if got := hs.master.commands(); !slices.Equal(got, []status.CommandKind{status.CmdStop}) {
		t.Errorf("after Q n Q y the server was asked %v, want one stop", got)
	}
	hs.key("q")
	if !hs.m.detached {
		t.Error("q did not detach")
	}
	if got := hs.master.commands(); len(got) != 1 {
		t.Errorf("q asked the server for %v", got[1:])
	}
}

// A q typed into a log search is part of the search, not a detach.
func TestAttachedSearchTakesQ(t *testing.T) {
	hs := newAttachedHarness(t, 100, 30)
	hs.loadFixture()
	hs.key("/")
	if !hs.m.search.typing {
		t.Skip("/ does not start a search here")
	}
	hs.key("q")
	if hs.m.detached {
		t.Error("a q typed into the search detached the dashboard")
	}
}
