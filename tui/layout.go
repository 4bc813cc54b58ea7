package tui

const (
	headerHeight = 3
	minWidth     = 50
	minPanes     = 10 // rows the three panes need at the least: 4 + 3 + 3
)

// layout is how many rows each part of the screen gets; the parts add up
// to the terminal's height.
type layout struct {
	header, workers, events, logs, footer int
}

// tooSmall tells whether the terminal cannot hold the dashboard at all.
func (m model) tooSmall() bool {
	return m.width < minWidth || m.height < m.headerRows()+1+minPanes
}

// fullHelp tells whether the full help is shown: asked for, and room left.
func (m model) fullHelp() bool {
	return m.help.ShowAll && m.height-m.headerRows()-m.fullHelpHeight >= minPanes
}

func (m model) layout() layout {
	l := layout{header: m.headerRows(), footer: 1}
	if m.fullHelp() {
		l.footer = m.fullHelpHeight
	}
	avail := max(minPanes, m.height-l.header-l.footer)

	// The workers pane shows every worker if it can, but never so many
	// that the events and logs below go out of sight.
	want := 3 + max(1, len(m.snap.Workers)) // borders, column titles, rows
	if len(m.snap.Workers) > 0 {
		want++ // the totals
	}
	limit := max(4, min(avail-6, avail/2))
	l.workers = max(4, min(want, limit))

	rest := avail - l.workers
	l.events = max(3, min(rest/3+1, 14))
	l.logs = rest - l.events
	return l
}

// innerWidth is the width of a pane's content.
func (m model) innerWidth() int { return max(0, m.width-4) }

// workerRows is how many workers the workers pane shows at once.
func (m model) workerRows() int { return m.tableRows(m.layout().workers) }

func (m model) clampWorkerTop(top int) int {
	return max(0, min(top, len(m.snap.Workers)-m.workerRows()))
}

// relayout sizes the panes to the terminal and redraws what depends on
// the width.
func (m model) relayout() model {
	if m.width <= 0 || m.height <= 0 {
		return m
	}
	l := m.layout()
	w := m.innerWidth()
	m.eventsVP.Width, m.eventsVP.Height = w, max(1, l.events-2)
	m.logsVP.Width, m.logsVP.Height = w, max(1, l.logs-2)
	m.buildVP.Width, m.buildVP.Height = w, max(1, l.events+l.logs-2)
	m.workerTop = m.clampWorkerTop(m.workerTop)
	if w != m.eventsWidth || m.eventsVP.Height != m.eventsHeight {
		m = m.refreshEvents()
	} else if m.eventsFollow {
		m.eventsVP.GotoBottom()
	} else {
		m.eventsVP.SetYOffset(m.eventsVP.YOffset) // clamp to the new height
	}
	if w != m.logsWidth {
		m = m.refreshLogs(0)
	} else if m.follow {
		m.logsVP.GotoBottom()
	} else {
		m.logsVP.SetYOffset(m.logsVP.YOffset)
	}
	return m
}

// headerRows is the header's height: three lines, and the banner's.
func (m model) headerRows() int {
	if m.banner.text != "" {
		return headerHeight + 1
	}
	return headerHeight
}
