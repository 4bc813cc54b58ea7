package tui

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/starlight-go/starlight/status"
)

// A failed build or a rollback puts a banner of one line, in the error
// colour, at the top of the screen until the next good build; e shows a
// failed build's whole output in a pane of its own.

// banner is what the top line says, and the output behind it.
type banner struct {
	text   string // one line
	output string // the build's whole output, if it was a build that failed
}

// compilerError is a line of go build's output that names a place:
// "./cart.go:88:9: undefined: totl".
var compilerError = regexp.MustCompile(`^\S+\.go:\d+(:\d+)?: `)

// firstError is the line of a build's output that says best what went
// wrong: the first compiler error, else the first line that is not a
// package heading ("# example.com/app").
func firstError(output string) string {
	fallback := ""
	for _, l := range strings.Split(output, "\n") {
		l = strings.TrimSpace(l)
		if compilerError.MatchString(l) {
			return l
		}
		if fallback == "" && l != "" && !strings.HasPrefix(l, "# ") {
			fallback = l
		}
	}
	return fallback
}

// noteBanner updates the banner from events: a failed reload raises it, a
// good build takes it down.
func (m model) noteBanner(events []status.Event) model {
	for _, e := range events {
		switch e.Kind {
		case status.EventReloadFailed:
			if strings.TrimSpace(e.Detail) != "" {
				what := firstError(e.Detail)
				m.banner = banner{text: fmt.Sprintf("build of generation %d failed: %s", e.Generation, what), output: e.Detail}
			} else {
				m.banner = banner{text: eventMessage(e)}
			}
		case status.EventReloadBuilt, status.EventReloadFinished:
			m.banner = banner{}
			m.showBuild = false
		}
	}
	return m
}

// bannerView is the banner's line, w cells wide.
func (m model) bannerView(w int) string {
	st := m.st
	hint := ""
	if m.banner.output != "" && !m.showBuild {
		hint = st.muted.Render("  e: whole output")
	}
	return pad(st.banner.Render(truncate("✖ "+sanitize(m.banner.text), w-lenCells(hint)))+hint, w)
}

// buildOutputKey is e outside the Events pane: the build's output, or back.
func (m model) buildOutputKey() (tea.Model, tea.Cmd) {
	if m.showBuild {
		m.showBuild = false
		return m.relayout(), nil
	}
	if m.banner.output == "" {
		return m.setFlash("no failed build to show"), nil
	}
	m.showBuild = true
	m = m.relayout()
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(m.banner.output, "\n"), "\n") {
		lines = append(lines, truncate(sanitize(l), m.innerWidth()))
	}
	m.buildVP.SetContent(strings.Join(lines, "\n"))
	m.buildVP.GotoTop()
	return m, nil
}

// buildKey handles the keys while the build's output is shown.
func (m model) buildKey(k tea.KeyMsg) (model, bool) {
	keys := m.keys
	switch {
	case key.Matches(k, keys.Problems), key.Matches(k, keys.Esc):
		m.showBuild = false
		return m.relayout(), true
	case key.Matches(k, keys.Up), key.Matches(k, keys.Down), key.Matches(k, keys.PageUp),
		key.Matches(k, keys.PageDown), key.Matches(k, keys.Home), key.Matches(k, keys.End):
		scrollViewport(&m.buildVP, k, keys)
		return m, true
	}
	return m, false
}

// buildBox draws the build's output in place of the Events and Logs panes.
func (m model) buildBox(h int) string {
	lines := strings.Split(m.buildVP.View(), "\n")
	info := m.st.muted.Render("e or esc closes")
	return m.box("Build output", info, lines, h, true, m.below(m.buildVP.TotalLineCount(), m.buildVP.YOffset, m.buildVP.Height))
}
