package tui

import (
	"strconv"
	"strings"

	"github.com/starlight-go/starlight/status"
)

const minPIDWidth = 4

// logEntry is one line of the logs pane: the line as the worker wrote it
// (made safe to draw) and, once drawn, how it looks.
type logEntry struct {
	line  status.LogLine
	drawn string
}

func (m model) visible(l status.LogLine) bool {
	return m.showAccess || l.Stream != status.StreamAccess
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
	marks := map[status.Stream]string{
		status.StreamStdout: m.st.stdoutMark.Render("│"),
		status.StreamStderr: m.st.stderrMark.Render("┃"),
		status.StreamAccess: m.st.accessMark.Render("›"),
	}
	pids := map[int]string{}
	lines := make([]string, 0, len(m.logs))
	for i := range m.logs {
		e := &m.logs[i]
		if redraw || e.drawn == "" {
			e.drawn = m.drawLog(e.line, w, marks, pids)
		}
		if m.visible(e.line) {
			lines = append(lines, e.drawn)
		}
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
func (m model) drawLog(l status.LogLine, w int, marks map[status.Stream]string, pids map[int]string) string {
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
	if l.Stream == status.StreamAccess {
		text = m.st.access.Render(text)
	}
	return pid + " " + mark + " " + text
}
