package tui

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
)

// Log search: / opens a prompt under the Logs pane. What is typed is a
// substring (matched without regard to case), or a regular expression
// between slashes; matches are highlighted as it is typed, in the
// history and in lines that arrive meanwhile. enter closes the prompt and
// keeps the search: n and N go to the next and previous matching line,
// enter (in the Logs pane) then keeps only the matching lines, and esc
// clears it all.

// search is the state of the log search.
type search struct {
	typing bool   // the prompt is open
	query  string // as typed
	re     *regexp.Regexp
	bad    string // why the query is no regular expression, if it is not
	only   bool   // keep only the matching lines
	cur    int    // the current match: an index into the pane's lines, -1 for none
	gen    int    // counts the expressions compiled, for the matches kept in the entries
}

// active tells whether there is a search to highlight.
func (s search) active() bool { return s.re != nil }

// compile sets the expression from the query: /re/ is a regular
// expression, anything else a substring in any case.
func (s search) compile() search {
	s.re, s.bad = nil, ""
	s.gen++ // every entry is matched again
	q := s.query
	if q == "" {
		return s
	}
	expr := "(?i)" + regexp.QuoteMeta(q)
	if len(q) >= 2 && strings.HasPrefix(q, "/") && strings.HasSuffix(q, "/") {
		expr = q[1 : len(q)-1]
		if expr == "" {
			return s
		}
	} else if strings.HasPrefix(q, "/") {
		return s // a regular expression not closed yet
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		s.bad = "not a regular expression"
		return s
	}
	s.re = re
	return s
}

// searchKey handles a key while the prompt is open.
func (m model) searchKey(k tea.KeyMsg) (model, tea.Cmd) {
	s := m.search
	switch k.Type {
	case tea.KeyEsc, tea.KeyCtrlC:
		return m.clearSearch(), nil
	case tea.KeyEnter:
		s.typing = false
		m.search = s
		if !s.active() {
			return m.clearSearch(), nil
		}
		m = m.refreshLogs(0)
		return m.jumpMatch(+1, true), nil
	case tea.KeyBackspace:
		if s.query == "" {
			return m.clearSearch(), nil
		}
		_, n := utf8.DecodeLastRuneInString(s.query)
		s.query = s.query[:len(s.query)-n]
	case tea.KeyRunes, tea.KeySpace:
		s.query += string(k.Runes)
		if k.Type == tea.KeySpace && len(k.Runes) == 0 {
			s.query += " "
		}
	default:
		return m, nil
	}
	old := m.search.re
	m.search = s.compile()
	if old != m.search.re {
		m.logsWidth = -1 // redraw every line with the new highlights
		m = m.refreshLogs(0)
		if m.search.active() {
			m = m.jumpMatch(+1, true)
		}
	}
	return m, nil
}

// clearSearch ends the search and the filters of the Logs pane.
func (m model) clearSearch() model {
	m.search = search{cur: -1, gen: m.search.gen + 1}
	m.logsWidth = -1
	return m.refreshLogs(0)
}

// logsKey handles the search keys in the Logs pane once the prompt is
// closed; handled is false for the others.
func (m model) logsKey(k tea.KeyMsg) (model, tea.Cmd, bool) {
	keys := m.keys
	switch {
	case key.Matches(k, keys.Search):
		m.search.typing = true
		return m, nil, true
	case !m.search.active():
		return m, nil, false
	case key.Matches(k, keys.NextMatch):
		return m.jumpMatch(+1, false), nil, true
	case key.Matches(k, keys.PrevMatch):
		return m.jumpMatch(-1, false), nil, true
	case key.Matches(k, keys.Enter):
		m.search.only = !m.search.only
		m.search.cur = -1
		m = m.refreshLogs(0)
		if m.search.only {
			return m.setFlash("matching lines only — enter again for all"), nil, true
		}
		return m, nil, true
	}
	return m, nil, false
}

// jumpMatch moves to the next (dir +1) or previous (-1) matching line of
// the pane from the current one (from the line at the top of the view, if
// none), and scrolls to show it; fromView starts at the view instead.
func (m model) jumpMatch(dir int, fromView bool) model {
	if len(m.matches) == 0 {
		m.search.cur = -1
		return m.setFlash("no match")
	}
	from := m.search.cur
	if fromView || from < 0 {
		from = m.logsVP.YOffset - 1
		if dir < 0 {
			from = m.logsVP.YOffset + m.logsVP.Height
		}
	}
	next := -1
	if dir > 0 {
		for _, i := range m.matches {
			if i > from {
				next = i
				break
			}
		}
		if next < 0 {
			next = m.matches[0] // wrap
		}
	} else {
		for j := len(m.matches) - 1; j >= 0; j-- {
			if m.matches[j] < from {
				next = m.matches[j]
				break
			}
		}
		if next < 0 {
			next = m.matches[len(m.matches)-1]
		}
	}
	// The current match is drawn apart: the old and new ones again.
	m.logs = append([]logEntry(nil), m.logs...)
	for _, l := range []int{m.search.cur, next} {
		if l >= 0 && l < len(m.lineEntry) {
			m.logs[m.lineEntry[l]].drawn = ""
		}
	}
	m.search.cur = next
	m.follow = false
	m = m.refreshLogs(0)
	if next < m.logsVP.YOffset || next >= m.logsVP.YOffset+m.logsVP.Height {
		m.logsVP.SetYOffset(max(0, next-m.logsVP.Height/2))
	}
	return m
}

// highlight draws the matches of re in plain text with style on, the
// rest with off (nil: as is).
func highlight(text string, re *regexp.Regexp, on func(string) string, off func(string) string) (string, bool) {
	locs := re.FindAllStringIndex(text, -1)
	if len(locs) == 0 {
		return off(text), false
	}
	var b strings.Builder
	at := 0
	for _, l := range locs {
		if l[1] == l[0] {
			continue // an empty match shows nothing
		}
		b.WriteString(off(text[at:l[0]]))
		b.WriteString(on(text[l[0]:l[1]]))
		at = l[1]
	}
	b.WriteString(off(text[at:]))
	return b.String(), true
}

// searchPrompt is the footer while the search is typed: the query, then
// what it finds and the keys.
func (m model) searchPrompt(w int) string {
	st := m.st
	line := st.accent.Render("/") + st.text.Render(m.search.query) + st.accent.Render("▏")
	switch {
	case m.search.bad != "":
		line += "  " + st.bad.Render(m.search.bad)
	case m.search.active():
		line += "  " + st.muted.Render(plural(len(m.matches), "matching line"))
	}
	line += st.muted.Render("  enter done · esc clear · /re/ for a regexp")
	return truncate(line, w)
}

// searchNote is for the Logs pane's bottom edge: the search and where in
// its matches the view is.
func (m model) searchNote() string {
	st := m.st
	if !m.search.active() || m.search.typing {
		return ""
	}
	where := ""
	for i, l := range m.matches {
		if l == m.search.cur {
			where = strconv.Itoa(i+1) + "/"
		}
	}
	q := m.search.query
	if !strings.HasPrefix(q, "/") {
		q = "/" + q
	}
	s := st.accent.Render(truncate(q, 20)) + " " + st.text.Render(where+strconv.Itoa(len(m.matches)))
	if m.search.only {
		s += st.muted.Render(" only")
	}
	return s + st.muted.Render(" n/N")
}

// plural says n things: "1 line", "2 lines".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
