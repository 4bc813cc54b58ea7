package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/starlight-go/starlight/status"
)

// View draws the whole screen: exactly as many lines as the terminal has,
// none wider than it.
func (m model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.tooSmall() {
		return fitScreen(m.tooSmallView(), m.width, m.height)
	}
	l := m.layout()
	parts := []string{m.headerView(), m.workersBox(l.workers)}
	if m.showBuild {
		parts = append(parts, m.buildBox(l.events+l.logs))
	} else {
		parts = append(parts, m.eventsBox(l.events), m.logsBox(l.logs))
	}
	parts = append(parts, m.footerView())
	return fitScreen(strings.Join(parts, "\n"), m.width, m.height)
}

// fitScreen cuts or pads s to exactly h lines of at most w cells.
func fitScreen(s string, w, h int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = truncate(l, w)
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

func (m model) tooSmallView() string {
	msg := []string{
		m.st.bold.Render("starlight"),
		m.st.muted.Render(fmt.Sprintf("terminal too small: %d×%d", m.width, m.height)),
		m.st.muted.Render(fmt.Sprintf("needs %d×%d", minWidth, m.headerRows()+1+minPanes)),
		m.st.muted.Render("q quits"),
	}
	top := max(0, (m.height-len(msg))/2)
	lines := make([]string, top, m.height)
	for _, l := range msg {
		lines = append(lines, strings.Repeat(" ", max(0, (m.width-ansi.StringWidth(l))/2))+l)
	}
	return strings.Join(lines, "\n")
}

// headerView is three lines: who and what, where, and how busy.
func (m model) headerView() string {
	st := m.st
	w := m.width - 2 // a space at each edge
	s := m.snap
	sep := "  "

	// Line 1: brand, app and build; badges and uptime on the right.
	left := st.brand.Render("✦ starlight")
	if s.App != "" {
		left += sep + st.bold.Render(sanitize(s.App))
	}
	var right []string
	switch {
	case m.forceAsked:
		right = append(right, st.badgeStop.Render("stopping now…"))
	case m.stopAsked || s.Stopping:
		right = append(right, st.badgeStop.Render("stopping…"))
	case s.Reloading:
		right = append(right, m.reloadProgress(w-ansi.StringWidth(left)-len(sep)-len("up 1h02m")-len(sep)))
	case s.Halted:
		right = append(right, st.badgeStop.Render("app cannot start"))
	}
	if m.haveSnap && !s.Started.IsZero() {
		right = append(right, st.label.Render("up ")+st.value.Render(shortDuration(m.refTime().Sub(s.Started))))
	} else if !m.haveSnap {
		right = append(right, st.muted.Render("connecting…"))
	}
	r := strings.Join(right, sep)
	if s.Build != "" {
		room := w - ansi.StringWidth(left) - ansi.StringWidth(r) - 2*len(sep) - len("build ")
		if room >= 8 {
			left += sep + st.label.Render("build ") + st.text.Render(truncateLeft(sanitize(s.Build), room))
		}
	}
	line1 := spread(left, r, w)

	// Line 2: listeners; generation and lifetime counters on the right.
	crashes := st.value.Render(fmt.Sprint(s.Crashes))
	if s.Crashes > 0 {
		crashes = st.bad.Render(fmt.Sprint(s.Crashes))
	}
	r = strings.Join([]string{
		st.label.Render("gen ") + st.value.Render(fmt.Sprint(s.Generation)),
		st.label.Render("recycles ") + st.value.Render(fmt.Sprint(s.Recycles)),
		st.label.Render("crashes ") + crashes,
		st.label.Render("reloads ") + st.value.Render(fmt.Sprint(s.Reloads)),
	}, sep)
	line2 := spread(m.listenersView(w-ansi.StringWidth(r)-len(sep)), r, w)

	// Line 3: workers, requests, rate and its history.
	alive := 0
	for _, wk := range s.Workers {
		if wk.State != status.StateExiting {
			alive++
		}
	}
	aliveStyle := st.good.Bold(true)
	if alive != s.Target {
		aliveStyle = st.warn.Bold(true)
	}
	left = strings.Join([]string{
		st.label.Render("workers ") + aliveStyle.Render(fmt.Sprintf("%d/%d", alive, s.Target)),
		st.label.Render("requests ") + st.value.Render(thousands(s.Requests)),
		st.value.Render(rate(m.rates.total)) + st.label.Render(" req/s"),
	}, sep)
	// The req/s history gets at least 8 cells before the HTTP summary
	// takes the rest.
	httpPart := m.httpHeader(w - ansi.StringWidth(left) - 1 - 8 - len(sep))
	if room := w - ansi.StringWidth(left) - 1 - ansi.StringWidth(httpPart) - len(sep); room >= 8 {
		left += " " + st.spark.Render(sparkline(m.rates.history, min(room, historyLen)))
	}
	line3 := spread(left, httpPart, w)

	out := " " + line1 + " \n " + line2 + " \n " + line3 + " "
	if m.banner.text != "" {
		out += "\n " + m.bannerView(w) + " "
	}
	return out
}

// listenersView lists the listeners that fit in w cells, then how many
// more there are.
func (m model) listenersView(w int) string {
	st := m.st
	ls := m.snap.Listeners
	if len(ls) == 0 {
		return st.muted.Render("no listeners yet")
	}
	out, used := "", 0
	for i, l := range ls {
		l = sanitize(l)
		sep := ""
		if i > 0 {
			sep = "  "
		}
		more := ""
		if i < len(ls)-1 {
			more = fmt.Sprintf("  +%d more", len(ls)-1-i)
		}
		lw := ansi.StringWidth(l)
		if i > 0 && used+len(sep)+lw+len(more) > w {
			return out + st.muted.Render(fmt.Sprintf("  +%d more", len(ls)-i))
		}
		out += sep + st.listener.Render(l)
		used += len(sep) + lw
	}
	return out
}

func (m model) eventsBox(h int) string {
	lines := strings.Split(m.eventsVP.View(), "\n")
	info := ""
	if n := len(m.events); n > 0 {
		info = m.st.muted.Render(fmt.Sprintf("%d events", n))
	}
	switch {
	case len(m.events) == 0:
		lines = []string{m.st.muted.Render("no events yet")}
	case m.problems && m.eventsVP.TotalLineCount() <= 1 && strings.TrimSpace(m.eventsVP.View()) == "":
		lines = []string{m.st.good.Render("no problems") + m.st.muted.Render(" · e shows every event")}
	}
	if m.problems {
		info = m.st.bad.Render("problems only") + m.st.faint.Render(" · ") + info
	}
	return m.box("Events", info, lines, h, m.focus == paneEvents, m.below(m.eventsVP.TotalLineCount(), m.eventsVP.YOffset, m.eventsVP.Height))
}

func (m model) logsBox(h int) string {
	st := m.st
	lines := strings.Split(m.logsVP.View(), "\n")
	if m.logsShown == 0 {
		msg := "no output yet"
		switch {
		case m.search.only:
			msg = "no line matches: esc shows them all"
		case m.logPID != 0:
			msg = fmt.Sprintf("nothing from worker %d yet: enter in Workers or esc shows every worker's", m.logPID)
		case len(m.logs) > 0:
			msg = "only access log lines so far: a shows them"
		}
		lines = []string{st.muted.Render(msg)}
	}
	follow := st.good.Render("following")
	if !m.follow {
		follow = st.warn.Render("paused")
	}
	access := st.muted.Render("access ") + st.text.Render("hidden")
	if m.showAccess {
		access = st.muted.Render("access ") + st.text.Render("shown")
	}
	info := follow + st.faint.Render(" · ") + access
	if m.logPID != 0 {
		info = st.accent.Render("worker "+strconv.Itoa(m.logPID)+" only") + st.faint.Render(" · ") + info
	}
	note := m.below(m.logsVP.TotalLineCount(), m.logsVP.YOffset, m.logsVP.Height)
	if s := m.searchNote(); s != "" {
		if note != "" {
			note = s + st.faint.Render(" · ") + note
		} else {
			note = s
		}
	}
	if m.droppedLogs > 0 {
		d := st.warn.Render(fmt.Sprintf("%s lines dropped", thousands(m.droppedLogs)))
		if note != "" {
			note = d + st.faint.Render(" · ") + note
		} else {
			note = d
		}
	}
	return m.box("Logs", info, lines, h, m.focus == paneLogs, note)
}

// below says how many lines a scrolled pane has under what it shows.
func (m model) below(total, offset, height int) string {
	n := total - offset - height
	if n <= 0 {
		return ""
	}
	return m.st.accent.Render(fmt.Sprintf("↓ %d more", n))
}

func (m model) fullHelpView() string {
	groups := m.keys.FullHelp()
	uncut := m.help
	uncut.Width = 0
	if full := uncut.FullHelpView(groups); m.help.Width == 0 || lipgloss.Width(full) <= m.help.Width {
		return full
	}
	// Too narrow for the columns side by side: rows of as many as fit.
	var rows []string
	for start := 0; start < len(groups); {
		end := start + 1
		for end < len(groups) && lipgloss.Width(uncut.FullHelpView(groups[start:end+1])) <= m.help.Width {
			end++
		}
		rows = append(rows, m.help.FullHelpView(groups[start:end]))
		start = end
	}
	return strings.Join(rows, "\n")
}

// footerView is one line of short help, after what is going on if anything
// is; or the full help.
func (m model) footerView() string {
	st := m.st
	if m.fullHelp() {
		lines := strings.Split(m.fullHelpView(), "\n")
		for i, l := range lines {
			lines[i] = " " + l
		}
		return strings.Join(lines, "\n")
	}
	status := ""
	switch {
	case m.confirming:
		status = st.stopping.Render("■ stop the server? y stops it, any other key cancels")
	case m.confirmKill != 0:
		return " " + st.stopping.Render(fmt.Sprintf("kill worker %d with SIGKILL? its requests in flight are cut", m.confirmKill)) +
			st.muted.Render("  y/n")
	case m.search.typing:
		return " " + m.searchPrompt(m.width-2)
	case m.forceAsked:
		status = st.stopping.Render("■ stopping now…")
	case (m.stopAsked || m.snap.Stopping) && m.cfg.attached:
		status = st.stopping.Render("■ stopping… (in-flight requests finish)") +
			st.muted.Render(" · q to detach")
	case m.stopAsked || m.snap.Stopping:
		status = st.stopping.Render("■ stopping… (in-flight requests finish)") +
			st.muted.Render(" · ctrl+c again to stop now")
	case m.flash != "" && m.clock.Before(m.flashUntil):
		status = st.flash.Render("› " + m.flash)
	}
	w := m.width - 2
	if status == "" {
		return " " + m.shortHelp(w)
	}
	line := status
	if room := w - ansi.StringWidth(status) - 3; room >= 24 {
		line += "   " + m.shortHelp(room)
	}
	return " " + line
}

// shortHelp is as many of the short help's keys as fit in w cells.
func (m model) shortHelp(w int) string {
	h := m.help
	h.Width = 0
	all := m.keys.ShortHelp()
	out := ""
	for n := 1; n <= len(all); n++ {
		s := h.ShortHelpView(all[:n])
		if ansi.StringWidth(s) > w {
			break
		}
		out = s
	}
	return out
}
