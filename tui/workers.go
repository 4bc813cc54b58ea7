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
	{title: "GEN", right: true, drop: 2},
	{title: "STATE"},
	{title: "REQS", right: true},
	{title: "REQ/S", right: true, drop: 3},
	{title: "REQUEST", flex: true},
	{title: "FOR", right: true},
	{title: "RSS", right: true},
	{title: "AGE", right: true, drop: 1},
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

	return []cell{
		{strconv.Itoa(w.Slot), &st.muted},
		{strconv.Itoa(w.PID), &pidStyle},
		{strconv.Itoa(w.Generation), genStyle},
		{glyph + " " + string(w.State), &stateStyle},
		{strconv.FormatUint(w.Requests, 10) + "/" + budget, reqStyle},
		{perSec, perSecStyle},
		{request, requestStyle},
		{since, sinceStyle},
		{rss, nil},
		{started, &st.muted},
	}
}

// workersBox draws the workers pane, h rows high.
func (m model) workersBox(h int) string {
	workers := m.snap.Workers
	rows := max(1, h-3)
	inner := m.innerWidth()

	all := make([][]cell, len(workers))
	for i, w := range workers {
		all[i] = m.workerCells(w)
	}
	cols, widths := fitColumns(workerColumns, all, inner)

	var lines []string
	var head []string
	for _, c := range cols {
		head = append(head, alignCell(workerColumns[c], workerColumns[c].title, widths[c]))
	}
	lines = append(lines, m.st.tableHeader.Render(strings.Join(head, " ")))

	top := m.clampWorkerTop(m.workerTop)
	end := min(len(workers), top+rows)
	for _, cells := range all[top:end] {
		var parts []string
		for _, c := range cols {
			s := alignCell(workerColumns[c], cells[c].text, widths[c])
			if cells[c].style != nil {
				s = cells[c].style.Render(s)
			}
			parts = append(parts, s)
		}
		lines = append(lines, strings.Join(parts, " "))
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
	return m.box(title, info, lines, h, m.focus == paneWorkers, scroll)
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
