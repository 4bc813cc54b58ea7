package tui

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// checkScreen fails unless view is exactly h lines of at most w cells.
func checkScreen(t *testing.T, view string, w, h int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != h {
		t.Errorf("%d×%d: view has %d lines, want %d", w, h, len(lines), h)
	}
	if got := lipgloss.Height(view); got != h {
		t.Errorf("%d×%d: lipgloss.Height = %d", w, h, got)
	}
	for i, l := range lines {
		if n := ansi.StringWidth(l); n > w {
			t.Errorf("%d×%d: line %d is %d cells wide: %q", w, h, i+1, n, ansi.Strip(l))
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("view differs from %s (run go test ./tui -update if intended)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestGoldenViews(t *testing.T) {
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
		w, h := size[0], size[1]
		t.Run(fmt.Sprintf("%dx%d", w, h), func(t *testing.T) {
			hs := newHarness(t, w, h)
			hs.loadFixture()
			view := hs.m.View()
			checkScreen(t, view, w, h)
			golden(t, fmt.Sprintf("dashboard_%dx%d", w, h), ansi.Strip(view)+"\n")
		})
	}
}

func TestGoldenStopping(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	hs.key("q")
	view := hs.m.View()
	checkScreen(t, view, 80, 24)
	golden(t, "stopping_80x24", ansi.Strip(view)+"\n")
}

func TestGoldenFullHelp(t *testing.T) {
	hs := newHarness(t, 100, 30)
	hs.loadFixture()
	hs.key("?")
	view := hs.m.View()
	checkScreen(t, view, 100, 30)
	golden(t, "help_100x30", ansi.Strip(view)+"\n")
}

// At 80 columns, too narrow for the help's four columns side by side, the
// full help puts them in two rows, and every key is there.
func TestFullHelpAt80Columns(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	hs.key("?")
	checkScreen(t, hs.m.View(), 80, 24)
	// The help is what follows the last pane.
	view := ansi.Strip(hs.m.View())
	view = view[strings.LastIndex(view, "╯")+len("╯"):]
	for _, group := range hs.m.keys.FullHelp() {
		for _, b := range group {
			if h := b.Help(); !strings.Contains(view, h.Key) || !strings.Contains(view, h.Desc) {
				t.Errorf("the full help at 80×24 lacks %q %q:\n%s", h.Key, h.Desc, view)
			}
		}
	}
}

// Every size from 80×24 up fits exactly, and so do smaller ones.
func TestViewFitsEverySize(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	for _, help := range []bool{false, true} {
		if help {
			hs.key("?")
		}
		for w := 20; w <= 200; w += 11 {
			for h := 5; h <= 70; h += 5 {
				hs.send(tea.WindowSizeMsg{Width: w, Height: h})
				checkScreen(t, hs.m.View(), w, h)
			}
		}
	}
}

var colourSGR = regexp.MustCompile(`\x1b\[[0-9;]*(3[0-9]|4[0-9]|9[0-7]|10[0-7]);`)

// The colours change nothing but colours; with NoColor there are none, and
// a glyph marks the focused pane instead of reverse video.
func TestColourAndNoColour(t *testing.T) {
	r := lipgloss.NewRenderer(io.Discard)
	r.SetColorProfile(termenv.TrueColor)
	r.SetHasDarkBackground(true)
	coloured := newHarnessStyled(t, 120, 40, newStyles(r))
	coloured.loadFixture()
	plain := newHarness(t, 120, 40)
	plain.loadFixture()

	cv, pv := coloured.m.View(), plain.m.View()
	if !strings.Contains(cv, "\x1b[38;2;") {
		t.Error("coloured view has no true-colour escapes")
	}
	if strings.Contains(pv, "38;2;") || strings.Contains(pv, "48;2;") || colourSGR.MatchString(pv) {
		t.Errorf("no-colour view has colour escapes: %q", pv[:200])
	}
	if !strings.Contains(pv, "╭─ ▶ Logs ") || strings.Count(pv, "▶") != 1 {
		t.Errorf("no-colour view does not mark the focused pane (Logs) alone:\n%s", pv)
	}
	if strings.Contains(cv, "▶") {
		t.Errorf("coloured view marks focus with a glyph too")
	}
	if ansi.Strip(cv) != strings.Replace(ansi.Strip(pv), "▶ Logs ", "Logs ──", 1) {
		t.Errorf("colour changes the layout:\n%s\n---\n%s", ansi.Strip(cv), ansi.Strip(pv))
	}
}

func TestNoColorEnv(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	if d := New(Options{}); !d.noColor {
		t.Error("NO_COLOR is set but the dashboard draws colour")
	}
	t.Setenv("NO_COLOR", "")
	if d := New(Options{}); d.noColor {
		t.Error("NO_COLOR is empty but the dashboard draws no colour")
	}
}
