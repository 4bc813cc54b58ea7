package tui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/starlight-go/starlight/status"
)

const (
	kindWidth        = len(status.EventReloadFinished) // the longest kind
	eventIndent      = 8 + 1 + kindWidth + 1           // time, kind, spaces
	reloadDetailRows = 8                               // compiler output shown under a failed reload
	crashDetailRows  = 6                               // a panic's message and the top of its stack
)

// refreshEvents redraws the events pane's content for the current width.
func (m model) refreshEvents() model {
	w := m.innerWidth()
	m.eventsWidth, m.eventsHeight = w, m.eventsVP.Height
	// An event and its detail fit in the pane together.
	maxDetail := max(0, m.eventsVP.Height-1)
	var lines []string
	for _, e := range m.events {
		if m.problems && !isProblem(e) {
			continue
		}
		lines = append(lines, m.eventLines(e, w, maxDetail)...)
	}
	m.eventsVP.SetContent(strings.Join(lines, "\n"))
	if m.eventsFollow {
		m.eventsVP.GotoBottom()
	}
	return m
}

// eventLines draws one event: a line of time, kind and message, then for
// failures the first lines of the detail (maxDetail at most).
func (m model) eventLines(e status.Event, w, maxDetail int) []string {
	st := m.st
	msg := eventMessage(e)
	var more []string
	if (e.Kind == status.EventCrashed || e.Kind == status.EventPanic) && w-eventIndent > 10 {
		// What was in flight ends the message: the message goes on a
		// second line rather than lose it.
		if wrapped := strings.Split(ansi.Wordwrap(msg, w-eventIndent, ""), "\n"); len(wrapped) > 1 {
			msg, more = wrapped[0], []string{strings.Join(wrapped[1:], " ")}
		}
	}
	head := st.eventTime.Render(e.Time.In(m.cfg.loc).Format("15:04:05")) + " " +
		st.kind(e.Kind).Render(pad(string(e.Kind), kindWidth)) + " " +
		truncate(msg, w-eventIndent)
	lines := []string{head}
	for _, l := range more {
		lines = append(lines, strings.Repeat(" ", eventIndent)+truncate(l, w-eventIndent))
	}

	rows := 0
	detailStyle := st.detail
	rest := ""
	switch e.Kind {
	case status.EventReloadFailed:
		rows, detailStyle = reloadDetailRows, st.kind(e.Kind).UnsetBold()
		rest = " (all in Logs)" // Dashboard.Event copies it there
	case status.EventCrashed, status.EventPanic, status.EventError:
		rows = crashDetailRows
	}
	indent := strings.Repeat(" ", eventIndent)
	for _, d := range detailLines(e.Detail, min(rows, maxDetail-len(more)), rest) {
		lines = append(lines, indent+detailStyle.Render(truncate(d, w-eventIndent)))
	}
	return lines
}

// eventMessage is an event's one line, made up from its fields if the
// master left Message empty.
func eventMessage(e status.Event) string {
	if msg, _, _ := strings.Cut(e.Message, "\n"); strings.TrimSpace(msg) != "" {
		return sanitize(msg)
	}
	var parts []string
	if e.PID > 0 {
		parts = append(parts, fmt.Sprintf("worker %d (slot %d)", e.PID, e.Slot))
	}
	if e.Generation > 0 {
		parts = append(parts, fmt.Sprintf("generation %d", e.Generation))
	}
	if e.Signal != "" {
		parts = append(parts, "signal "+e.Signal)
	} else if e.Kind == status.EventCrashed {
		parts = append(parts, fmt.Sprintf("exit status %d", e.ExitCode))
	}
	return strings.Join(parts, ", ")
}

// detailLines returns at most n non-blank lines of detail, sanitised, with
// a last line saying how many more there were, and rest after it.
func detailLines(detail string, n int, rest string) []string {
	if n <= 0 || strings.TrimSpace(detail) == "" {
		return nil
	}
	var all []string
	for _, l := range strings.Split(strings.TrimRight(detail, "\n"), "\n") {
		if l = sanitize(strings.TrimRight(l, " \r")); strings.TrimSpace(l) != "" {
			all = append(all, l)
		}
	}
	if len(all) <= n {
		return all
	}
	if n == 1 {
		return all[:1]
	}
	more := len(all) - (n - 1)
	return append(all[:n-1:n-1], fmt.Sprintf("… %d more lines%s", more, rest))
}

// isProblem tells the events the problems-only view keeps: crashes (of
// frozen workers too), failed builds and rollbacks, backoff, errors.
func isProblem(e status.Event) bool {
	switch e.Kind {
	case status.EventCrashed, status.EventPanic, status.EventReloadFailed, status.EventBackoff, status.EventError:
		return true
	}
	return false
}
