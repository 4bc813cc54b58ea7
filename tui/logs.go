package tui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"github.com/starlight-go/starlight/status"
)

const minPIDWidth = 4

// logEntry is one line of the logs pane: the line as the worker wrote it
// (made safe to draw) and, once drawn, how it looks.
type logEntry struct {
	line  status.LogLine
	drawn string
	// Whether the search matches it, for search generation matchGen.
	matchGen int
	match    bool
}

// streamExit marks the lines the dashboard makes of a worker's exit
// events: they show among its lines when the Logs pane shows that worker
// alone.
const streamExit status.Stream = "exit"

// exitKinds are the events of a worker's end.
var exitKinds = map[status.EventKind]bool{
	status.EventRecycled: true, status.EventHarakiri: true, status.EventExited: true, status.EventCrashed: true,
}

// exitLines are the exit events among events as log lines of their
// workers.
func exitLines(events []status.Event) []status.LogLine {
	var out []status.LogLine
	for _, e := range events {
		if e.PID > 0 && exitKinds[e.Kind] {
			out = append(out, status.LogLine{Time: e.Time, PID: e.PID, Stream: streamExit, Text: eventMessage(e)})
		}
	}
	return out
}

// visible tells whether the Logs pane shows a line, before the search.
func (m model) visible(l status.LogLine) bool {
	if m.logPID != 0 {
		return l.PID == m.logPID && (m.showAccess || l.Stream != status.StreamAccess)
	}
	return l.Stream != streamExit && (m.showAccess || l.Stream != status.StreamAccess)
}

// addLogs appends new lines, dropping the oldest beyond maxLogLines.
func (m model) addLogs(lines []status.LogLine) model {
	add := make([]logEntry, len(lines))
	pidWidth := m.pidWidth
	for i, l := range lines {
		l.Text = sanitize(l.Text)
		add[i] = logEntry{line: l}
		pidWidth = max(pidWidth, len(strconv.Itoa(l.PID)))
	}

	// Lines about to be dropped shift what is in view, unless following.
	shift := 0
	if over := len(m.logs) + len(add) - maxLogLines; over > 0 {
		for _, e := range m.logs[:min(over, len(m.logs))] {
			if m.visible(e.line) {
				shift++
			}
		}
	}

	m.logs = appendCapped(m.logs, add, maxLogLines)
	if pidWidth != m.pidWidth {
		m.pidWidth = pidWidth
		m.logsWidth = -1 // redraw every line
	}
	return m.refreshLogs(shift)
}

// refreshLogs draws the lines not drawn yet for the current width, then
// puts the visible ones in the logs pane. shift is how many lines that were
// visible have gone from the top since the last refresh.
func (m model) refreshLogs(shift int) model {
	w := m.innerWidth()
	redraw := w != m.logsWidth
	m.logsWidth = w

	if redraw {
		m.logs = append([]logEntry(nil), m.logs...) // do not draw into a slice an older model holds
	}
	if m.search.cur >= 0 && shift > 0 {
		m.search.cur = max(-1, m.search.cur-shift) // the current match moved up, or went
	}
	marks := map[status.Stream]string{
		status.StreamStdout: m.st.stdoutMark.Render("│"),
		status.StreamStderr: m.st.stderrMark.Render("┃"),
		status.StreamAccess: m.st.accessMark.Render("›"),
		streamExit:          m.st.exitMark.Render("✕"),
	}
	pids := map[int]string{}
	lines := make([]string, 0, len(m.logs))
	m.matches = nil
	m.lineEntry = m.lineEntry[:0:0]
	re := m.search.re
	for i := range m.logs {
		e := &m.logs[i]
		if !m.visible(e.line) {
			continue
		}
		if re != nil && e.matchGen != m.search.gen {
			e.match, e.matchGen = re.MatchString(e.line.Text), m.search.gen
		}
		match := re != nil && e.match
		if re != nil && m.search.only && !match {
			continue
		}
		if match {
			m.matches = append(m.matches, len(lines))
		}
		m.lineEntry = append(m.lineEntry, i)
		if redraw || e.drawn == "" {
			e.drawn = m.drawLog(e.line, w, marks, pids, match && len(lines) == m.search.cur)
		}
		lines = append(lines, e.drawn)
	}

	m.logsShown = len(lines)
	offset := m.logsVP.YOffset - shift
	m.logsVP.SetContent(strings.Join(lines, "\n"))
	if m.follow {
		m.logsVP.GotoBottom()
	} else {
		m.logsVP.SetYOffset(max(0, offset))
	}
	return m
}

// drawLog draws one line: "1234 │ text", the pid in its own colour, the
// bar red for stderr and an arrow, dimmed text, for the access log.
func (m model) drawLog(l status.LogLine, w int, marks map[status.Stream]string, pids map[int]string, current bool) string {
	pid, ok := pids[l.PID]
	if !ok {
		s := "·"
		if l.PID > 0 {
			s = strconv.Itoa(l.PID)
		}
		pid = m.st.pid(l.PID).Render(padLeft(s, m.pidWidth))
		pids[l.PID] = pid
	}
	mark, ok := marks[l.Stream]
	if !ok {
		mark = marks[status.StreamStdout]
	}
	text := truncate(l.Text, w-m.pidWidth-3)
	off := func(s string) string { return s }
	switch l.Stream {
	case status.StreamAccess:
		off = render(m.st.access)
	case streamExit:
		off = render(m.st.muted)
	}
	if re := m.search.re; re != nil {
		on := render(m.st.match)
		if current {
			on = render(m.st.matchCurrent)
		}
		if hl, ok := highlight(text, re, on, off); ok {
			if m.st.plain {
				// No colours to tell them: the mark does.
				mark = "◆"
				if current {
					mark = "▸"
				}
			}
			return pid + " " + mark + " " + hl
		}
	}
	return pid + " " + mark + " " + off(text)
}

// render is a style's Render for one string.
func render(st lipgloss.Style) func(string) string {
	return func(s string) string { return st.Render(s) }
}
