package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/starlight-go/starlight/status"
)

// column is one column of the workers table.
type column struct {
	title string
	right bool // right-aligned (numbers)
	flex  bool // takes the width left over
	drop  int  // dropped first on narrow terminals when >0, lowest first
}

// cell is one value of the table and how to draw it.
type cell struct {
	text  string
	style *lipgloss.Style // nil: plain
}

var workerColumns = []column{
	{title: "#", right: true},
	{title: "PID", right: true},
	{title: "GEN", right: true, drop: 5},
	{title: "STATE"},
	{title: "REQS", right: true},
	{title: "REQ/S", right: true, drop: 6},
	{title: "2XX", right: true, drop: 4},
	{title: "3XX", right: true, drop: 1},
	{title: "4XX", right: true, drop: 7},
	{title: "5XX", right: true},
	{title: "P50", right: true, drop: 3},
	{title: "P99", right: true},
	{title: "REQUEST", flex: true},
	{title: "FOR", right: true},
	{title: "RSS", right: true, drop: 8},
	{title: "AGE", right: true, drop: 2},
}

const minFlexWidth = 12

var stateGlyphs = map[status.WorkerState]string{
	status.StateStarting: "◔",
	status.StateIdle:     "○",
	status.StateBusy:     "●",
	status.StateExiting:  "◌",
}

// refTime is "now" for durations shown: the snapshot's own time, so that
// they agree with the times in it.
func (m model) refTime() time.Time {
	if !m.snap.Time.IsZero() {
		return m.snap.Time
	}
	return m.clock
}

// stuck tells whether a worker has been busy on one request too long.
func (m model) stuck(w status.WorkerInfo) bool {
	return w.State == status.StateBusy && !w.Since.IsZero() && m.refTime().Sub(w.Since) > stuckAfter
}

// workerCells is one worker's row.
func (m model) workerCells(w status.WorkerInfo) []cell {
	st := m.st
	now := m.refTime()
	stuck := m.stuck(w)

	stateStyle := st.state(w.State)
	glyph := stateGlyphs[w.State]
	if glyph == "" {
		glyph = "?"
	}
	if stuck {
		stateStyle, glyph = st.stuck, "▲"
	}

	genStyle := (*lipgloss.Style)(nil)
	if w.Generation < m.snap.Generation {
		genStyle = &st.oldGen // still on the previous build
	}

	budget := "∞"
	reqStyle := (*lipgloss.Style)(nil)
	if w.Budget > 0 {
		budget = strconv.FormatUint(w.Budget, 10)
		if w.Requests*10 >= w.Budget*9 {
			reqStyle = &st.warn // about to recycle
		}
	}

	perSec, perSecStyle := "–", &st.faint
	if v, ok := m.rates.worker(w.PID); ok {
		perSec = rate(v)
		if v > 0 {
			perSecStyle = nil
		}
	}

	request, since := "", ""
	if w.InFlight != "" || w.Active > 0 {
		request = sanitize(w.InFlight)
		if w.Active > 1 {
			request += fmt.Sprintf(" +%d", w.Active-1)
		}
		if !w.Since.IsZero() {
			since = shortDuration(now.Sub(w.Since))
		}
	}
	if w.Hijacked > 0 {
		// Connections the app took over (websockets): they hold a
		// draining worker as requests in flight do.
		if request != "" {
			request += " "
		}
		request += "ws " + strconv.Itoa(w.Hijacked)
	}
	requestStyle, sinceStyle := (*lipgloss.Style)(nil), &st.muted
	if stuck {
		requestStyle, sinceStyle = &st.stuck, &st.stuck
	}

	pidStyle := st.pid(w.PID)

	rss := "–"
	if w.RSS > 0 {
		rss = humanBytes(w.RSS)
	}
	started := "–"
	if !w.Started.IsZero() {
		started = age(now.Sub(w.Started))
	}

	out := []cell{
		{strconv.Itoa(w.Slot), &st.muted},
		{strconv.Itoa(w.PID), &pidStyle},
		{strconv.Itoa(w.Generation), genStyle},
		{glyph + " " + string(w.State), &stateStyle},
		{strconv.FormatUint(w.Requests, 10) + "/" + budget, reqStyle},
		{perSec, perSecStyle},
	}
	h, ok := m.http.worker(w.PID)
	out = append(out, m.httpCells(h, ok)...)
	return append(out,
		cell{request, requestStyle},
		cell{since, sinceStyle},
		cell{rss, nil},
		cell{started, &st.muted},
	)
}

// httpCells are the 2XX to P99 cells of a row: what the requests came to
// over the last httpWindow.
func (m model) httpCells(h status.HTTPStats, known bool) []cell {
	st := m.st
	if !known {
		c := cell{"–", &st.faint}
		return []cell{c, c, c, c, c, c}
	}
	out := make([]cell, 0, 6)
	for i, n := range h.Classes {
		var style *lipgloss.Style
		switch {
		case n == 0:
			style = &st.faint
		case i == 3:
			style = &st.bad
		case i == 2:
			style = &st.warn
		}
		out = append(out, cell{count(n), style})
	}
	p50, p99 := latency(h, 0.50), latency(h, 0.99)
	p99Style := (*lipgloss.Style)(nil)
	if d, ok := h.Quantile(0.99); ok && d >= slowP99 {
		p99Style = &st.warn
	}
	return append(out, cell{p50, nil}, cell{p99, p99Style})
}

// slowP99 is the p99 latency drawn as a warning.
const slowP99 = time.Second

// totalCells is the table's last row: every worker's together.
func (m model) totalCells() []cell {
	st := m.st
	out := []cell{
		{"", nil},
		{"", nil},
		{"", nil},
		{"total", &st.tableHeader},
		{strconv.FormatUint(m.snap.Requests, 10), &st.muted},
		{rate(m.rates.total), &st.muted},
	}
	out = append(out, m.httpCells(m.http.total, len(m.http.samples) > 1)...)
	return append(out, cell{"", nil}, cell{"", nil}, cell{"", nil}, cell{"", nil})
}

// workersBox draws the workers pane, h rows high.
func (m model) workersBox(h int) string {
	workers := m.snap.Workers
	rows := m.tableRows(h)
	showTotal := len(workers) > 0 && h-3 > rows
	inner := m.innerWidth()

	all := make([][]cell, len(workers), len(workers)+1)
	for i, w := range workers {
		all[i] = m.workerCells(w)
	}
	total := m.totalCells()
	cols, widths := fitColumns(workerColumns, append(all, total), inner)

	var lines []string
	var head []string
	for _, c := range cols {
		head = append(head, alignCell(workerColumns[c], workerColumns[c].title, widths[c]))
	}
	lines = append(lines, m.st.tableHeader.Render(strings.Join(head, " ")))

	top := m.clampWorkerTop(m.workerTop)
	end := min(len(workers), top+rows)
	row := func(cells []cell) string {
		var parts []string
		for _, c := range cols {
			s := alignCell(workerColumns[c], cells[c].text, widths[c])
			if cells[c].style != nil {
				s = cells[c].style.Render(s)
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, " ")
	}
	for _, cells := range all[top:end] {
		lines = append(lines, row(cells))
	}
	if showTotal {
		for len(lines) < rows+1 {
			lines = append(lines, "")
		}
		lines = append(lines, row(total))
	}
	if len(workers) == 0 {
		msg := "no workers yet"
		switch {
		case m.haveSnap && m.snap.Halted:
			msg = "no workers: the app cannot start (see Events); waiting for a change, or r to retry"
		case m.haveSnap:
			msg = fmt.Sprintf("no workers running (target %d)", m.snap.Target)
		}
		lines = append(lines, m.st.muted.Render(msg))
	}

	title := "Workers"
	info := ""
	if m.haveSnap {
		info = m.workersInfo()
	}
	scroll := ""
	if len(workers) > rows {
		scroll = m.st.muted.Render(fmt.Sprintf("%d–%d of %d", top+1, end, len(workers)))
		if end < len(workers) {
			scroll += m.st.accent.Render(" ↓")
		}
	}
	mark := -1
	if i := m.selectedIndex(); m.focus == paneWorkers && i >= top && i < end {
		mark = 1 + i - top // under the column titles
	}
	return m.boxMarked(title, info, lines, h, m.focus == paneWorkers, scroll, mark)
}

// tableRows is how many workers a workers pane h rows high shows: all but
// its borders, the column titles and, when there is room, the totals.
func (m model) tableRows(h int) int {
	if h-3 >= 2 && len(m.snap.Workers) > 0 {
		return h - 4
	}
	return max(1, h-3)
}

// workersInfo counts workers by state for the pane's title: "2 busy · 2 idle".
func (m model) workersInfo() string {
	counts := map[status.WorkerState]int{}
	stuck := 0
	for _, w := range m.snap.Workers {
		counts[w.State]++
		if m.stuck(w) {
			stuck++
		}
	}
	var parts []string
	for _, s := range []status.WorkerState{status.StateBusy, status.StateIdle, status.StateStarting, status.StateExiting} {
		if counts[s] > 0 {
			parts = append(parts, m.st.state(s).Render(fmt.Sprintf("%d %s", counts[s], s)))
		}
	}
	if stuck > 0 {
		parts = append(parts, m.st.stuck.Render(fmt.Sprintf("%d slow", stuck)))
	}
	return strings.Join(parts, m.st.faint.Render(" · "))
}

// fitColumns picks the columns that fit in width and their widths; the
// flexible column takes what is left.
func fitColumns(cols []column, rows [][]cell, width int) (shown []int, widths []int) {
	widths = make([]int, len(cols))
	for i, c := range cols {
		widths[i] = ansi.StringWidth(c.title)
		for _, r := range rows {
			widths[i] = max(widths[i], ansi.StringWidth(r[i].text))
		}
	}
	dropped := map[int]bool{}
	for {
		shown = shown[:0]
		used, flex := 0, -1
		for i, c := range cols {
			if dropped[i] {
				continue
			}
			shown = append(shown, i)
			if c.flex {
				flex = i
				continue
			}
			used += widths[i]
		}
		used += len(shown) - 1 // one space between columns
		left := width - used
		if flex >= 0 {
			if left >= minFlexWidth || !dropOne(cols, dropped) {
				widths[flex] = max(0, left)
				return shown, widths
			}
			continue
		}
		return shown, widths
	}
}

// dropOne marks the next column to give up; false when none is left.
func dropOne(cols []column, dropped map[int]bool) bool {
	best := -1
	for i, c := range cols {
		if c.drop > 0 && !dropped[i] && (best < 0 || c.drop < cols[best].drop) {
			best = i
		}
	}
	if best < 0 {
		return false
	}
	dropped[best] = true
	return true
}

func alignCell(c column, s string, w int) string {
	if c.right {
		return padLeft(s, w)
	}
	return pad(s, w)
}
