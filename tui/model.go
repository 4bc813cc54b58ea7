package tui

import (
	"sort"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/starlight-go/starlight/status"
)

const (
	tickInterval = 250 * time.Millisecond
	stuckAfter   = 3 * time.Second // a busy worker on one request longer is highlighted
	flashFor     = 2 * time.Second
	maxEvents    = 500
	maxLogLines  = 2000
)

// pane is one of the three scrollable panes.
type pane int

const (
	paneWorkers pane = iota
	paneEvents
	paneLogs
	paneCount
)

func (p pane) String() string {
	return [...]string{"workers", "events", "logs"}[p]
}

// feed is where the model takes what the master reported since the last
// tick; Dashboard is one.
type feed interface {
	take() (events []status.Event, logs []status.LogLine, droppedLogs uint64)
}

// tickMsg brings everything from outside the UI goroutine: it is made by
// poll, inside a tea.Cmd.
type tickMsg struct {
	at          time.Time
	snap        status.Snapshot
	events      []status.Event
	logs        []status.LogLine
	droppedLogs uint64
}

// doneMsg says the master has finished.
type doneMsg struct{}

// inputLostMsg says the terminal's input failed or reached its end.
type inputLostMsg struct{}

// modelConfig is what a model is made from.
type modelConfig struct {
	master Master
	feed   feed
	done   <-chan struct{} // closed when the master has finished
	lost   <-chan struct{} // closed when the terminal's input is gone; may be nil
	now    func() time.Time
	loc    *time.Location // for clock times shown
	styles *styles
	order  *commandOrder // made by newModel if nil
	// attached: the dashboard watches a server running on its own
	// (starlight attach): q detaches, Q stops the server once confirmed.
	attached bool
}

// model is the whole state of the dashboard. It is a value: Update returns
// a changed copy, and View is a pure function of it.
type model struct {
	cfg  modelConfig
	st   *styles
	keys keyMap
	help help.Model

	fullHelpHeight int // rows the full help takes

	width, height int
	clock         time.Time // when the last tick was taken

	snap     status.Snapshot
	haveSnap bool
	rates    rates
	http     httpStats

	events       []status.Event
	eventsVP     viewport.Model
	eventsWidth  int  // content width the events were drawn for
	eventsHeight int  // and the pane's height
	eventsFollow bool // keep the newest event in view

	logs        []logEntry
	logsVP      viewport.Model
	logsWidth   int // content width the entries were drawn for
	pidWidth    int // cells the pid column of the logs takes
	logsShown   int // lines in the logs pane's content
	droppedLogs uint64
	showAccess  bool
	follow      bool

	focus     pane
	workerTop int // first worker row shown
	sel       selection

	logPID      int // the Logs pane shows this worker's lines alone; 0: every worker's
	search      search
	matches     []int // lines of the Logs pane's content the search matches
	lineEntry   []int // the entry of m.logs each line of the Logs pane's content shows
	confirmKill int   // the worker K asks about, until y or another key
	problems    bool  // the Events pane shows problems only

	banner    banner         // a failed build or a rollback, until the next good build
	showBuild bool           // the build's output in place of the Events and Logs panes
	buildVP   viewport.Model // and its view

	sent       uint64 // commands sent to the master so far
	stopAsked  bool   // q or ctrl+c pressed
	forceAsked bool   // ctrl+c pressed again
	detached   bool   // attached, and q pressed: the server runs on
	confirming bool   // attached, and Q pressed: y stops the server
	flash      string
	flashUntil time.Time
}

func newModel(cfg modelConfig) model {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.loc == nil {
		cfg.loc = time.Local
	}
	if cfg.order == nil {
		cfg.order = newCommandOrder()
	}
	h := help.New()
	h.Styles = cfg.styles.help
	h.ShortSeparator = " · "
	keys := defaultKeyMap()
	if cfg.attached {
		keys = attachedKeyMap()
	}
	m := model{
		cfg:          cfg,
		st:           cfg.styles,
		keys:         keys,
		help:         h,
		clock:        cfg.now(),
		eventsVP:     viewport.New(0, 0),
		logsVP:       viewport.New(0, 0),
		buildVP:      viewport.New(0, 0),
		pidWidth:     minPIDWidth,
		follow:       true,
		eventsFollow: true,
		focus:        paneLogs,
		search:       search{cur: -1},
	}
	m.fullHelpHeight = lipgloss.Height(m.fullHelpView())
	return m
}

// Init takes the first snapshot at once and starts waiting for the end.
func (m model) Init() tea.Cmd {
	return tea.Batch(m.pollNow, m.waitEnd)
}

// poll takes a snapshot and whatever the master reported since the last
// one. It runs inside a tea.Cmd, never on the UI goroutine.
func poll(master Master, f feed, now func() time.Time) tickMsg {
	snap := master.Snapshot()
	events, logs, dropped := f.take()
	return tickMsg{at: now(), snap: snap, events: events, logs: logs, droppedLogs: dropped}
}

func (m model) pollNow() tea.Msg { return poll(m.cfg.master, m.cfg.feed, m.cfg.now) }

func (m model) tick() tea.Cmd {
	cfg := m.cfg
	return tea.Tick(tickInterval, func(time.Time) tea.Msg { return poll(cfg.master, cfg.feed, cfg.now) })
}

// waitEnd reports the master finishing, or the terminal going away.
func (m model) waitEnd() tea.Msg {
	select {
	case <-m.cfg.done:
		return doneMsg{}
	case <-m.cfg.lost:
		return inputLostMsg{}
	}
}

func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tickMsg:
		m = m.observe(msg)
		return m, m.tick()
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.help.Width = max(0, msg.Width-2)
		m.fullHelpHeight = lipgloss.Height(m.fullHelpView()) // its columns may wrap
		return m.relayout(), nil
	case tea.KeyMsg:
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste {
			return m.handleKeys(msg.Runes) // typed faster than read: "r+"
		}
		return m.handleKey(msg)
	case doneMsg, inputLostMsg:
		return m, tea.Quit
	}
	return m, nil
}

// observe takes in one tick's worth of news.
func (m model) observe(t tickMsg) model {
	m.clock = t.at
	m.snap, m.haveSnap = t.snap, true
	m.snap.Workers = append([]status.WorkerInfo(nil), t.snap.Workers...)
	sort.SliceStable(m.snap.Workers, func(i, j int) bool {
		return m.snap.Workers[i].Slot < m.snap.Workers[j].Slot
	})
	at := t.snap.Time
	if at.IsZero() {
		at = t.at
	}
	m.rates = m.rates.observe(t.snap, at)
	m.http = m.http.observe(t.snap, at)
	m.droppedLogs += t.droppedLogs
	if len(t.events) > 0 {
		m.events = appendCapped(m.events, t.events, maxEvents)
	}
	m = m.noteBanner(t.events)
	m = m.relayout() // the number of workers, or the banner, may have changed
	m = m.settleSelection()
	if len(t.events) > 0 {
		m = m.refreshEvents()
	}
	if lines := exitLines(t.events); len(t.logs) > 0 || len(lines) > 0 {
		m = m.addLogs(append(t.logs, lines...))
	}
	return m
}

// appendCapped returns old followed by add, keeping at most limit of the
// newest, in a new slice.
func appendCapped[T any](old, add []T, limit int) []T {
	if len(add) >= limit {
		return append([]T(nil), add[len(add)-limit:]...)
	}
	keep := min(len(old), limit-len(add))
	out := make([]T, 0, keep+len(add))
	out = append(out, old[len(old)-keep:]...)
	return append(out, add...)
}

func (m model) setFlash(s string) model {
	m.flash, m.flashUntil = s, m.clock.Add(flashFor)
	return m
}

// handleKeys handles runes that arrived together one at a time.
func (m model) handleKeys(runes []rune) (tea.Model, tea.Cmd) {
	var cmds []tea.Cmd
	for _, r := range runes {
		next, cmd := m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		m = next.(model)
		cmds = append(cmds, cmd)
	}
	return m, tea.Sequence(cmds...)
}

func (m model) handleKey(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	keys := m.keys
	if m.cfg.attached && m.confirming {
		m.confirming = false
		if k.String() == "y" || k.String() == "Y" {
			m.stopAsked = true
			return m, m.send(status.CmdStop)
		}
		return m.setFlash("the server runs on"), nil
	}
	if m.confirmKill != 0 {
		return m.confirmKey(k)
	}
	if m.search.typing {
		return m.searchKey(k)
	}
	if m.cfg.attached {
		// q and ctrl+c detach; Q asks before it stops the server.
		switch {
		case key.Matches(k, keys.Stop), key.Matches(k, keys.Interrupt):
			m.detached = true
			return m, tea.Quit
		case key.Matches(k, keys.StopServer):
			if m.stopAsked || m.snap.Stopping {
				return m.setFlash("the server is already stopping"), nil
			}
			m.confirming = true
			return m, nil
		}
	}
	if m.showBuild {
		if next, ok := m.buildKey(k); ok {
			return next, nil
		}
	}
	switch m.focus {
	case paneWorkers:
		if next, cmd, ok := m.workersKey(k); ok {
			return next, cmd
		}
	case paneLogs:
		if next, cmd, ok := m.logsKey(k); ok {
			return next, cmd
		}
	case paneEvents:
		if key.Matches(k, keys.Problems) {
			m.problems = !m.problems
			m.eventsFollow = true
			return m.refreshEvents(), nil
		}
	}
	switch {
	case key.Matches(k, keys.Search):
		m.focus = paneLogs
		m.search.typing = true
		return m, nil
	case key.Matches(k, keys.NextMatch) && m.search.active():
		return m.jumpMatch(+1, false), nil
	case key.Matches(k, keys.PrevMatch) && m.search.active():
		return m.jumpMatch(-1, false), nil
	case key.Matches(k, keys.Esc):
		if m.logPID != 0 || m.search.active() {
			m.logPID = 0
			return m.clearSearch(), nil
		}
		return m, nil
	case key.Matches(k, keys.Recycle), key.Matches(k, keys.Kill):
		return m.setFlash("select a worker in the Workers pane first (tab)"), nil
	case key.Matches(k, keys.Problems):
		return m.buildOutputKey()
	}
	switch {
	case key.Matches(k, keys.Interrupt):
		if m.stopAsked || m.snap.Stopping {
			m.forceAsked = true
			cmd := m.send(status.CmdForceStop)
			return m.setFlash("stopping now"), cmd
		}
		m.stopAsked = true
		cmd := m.send(status.CmdStop)
		return m, cmd
	case key.Matches(k, keys.Stop):
		if m.stopAsked {
			return m.setFlash("already stopping — ctrl+c to stop now"), nil
		}
		m.stopAsked = true
		cmd := m.send(status.CmdStop)
		return m, cmd
	case key.Matches(k, keys.Reload):
		cmd := m.send(status.CmdReload)
		return m.setFlash("reload requested"), cmd
	case key.Matches(k, keys.ScaleUp):
		cmd := m.send(status.CmdScaleUp)
		return m.setFlash("one worker more requested"), cmd
	case key.Matches(k, keys.ScaleDown):
		cmd := m.send(status.CmdScaleDown)
		return m.setFlash("one worker fewer requested"), cmd
	case key.Matches(k, keys.Help):
		m.help.ShowAll = !m.help.ShowAll
		return m.relayout(), nil
	case key.Matches(k, keys.NextPane):
		m.focus = (m.focus + 1) % paneCount
	case key.Matches(k, keys.PrevPane):
		m.focus = (m.focus + paneCount - 1) % paneCount
	case key.Matches(k, keys.Follow):
		m.follow = !m.follow
		if m.follow {
			m.logsVP.GotoBottom()
		}
	case key.Matches(k, keys.Access):
		m.showAccess = !m.showAccess
		m = m.refreshLogs(0)
		// The master has the workers write access lines only while
		// they are shown.
		if m.showAccess {
			return m, m.send(status.CmdAccessOn)
		}
		return m, m.send(status.CmdAccessOff)
	case key.Matches(k, keys.Clear):
		m.logs, m.pidWidth, m.droppedLogs = nil, minPIDWidth, 0
		m.follow = true // nothing left above to read
		m = m.refreshLogs(0)
		return m.setFlash("logs cleared"), nil
	default:
		return m.scroll(k), nil
	}
	return m, nil
}

// scroll moves the focused pane.
func (m model) scroll(k tea.KeyMsg) model {
	keys := m.keys
	switch m.focus {
	case paneWorkers:
		page := max(1, m.workerRows())
		switch {
		case key.Matches(k, keys.Up):
			m.workerTop--
		case key.Matches(k, keys.Down):
			m.workerTop++
		case key.Matches(k, keys.PageUp):
			m.workerTop -= page
		case key.Matches(k, keys.PageDown):
			m.workerTop += page
		case key.Matches(k, keys.Home):
			m.workerTop = 0
		case key.Matches(k, keys.End):
			m.workerTop = len(m.snap.Workers)
		}
		m.workerTop = m.clampWorkerTop(m.workerTop)
	case paneEvents:
		scrollViewport(&m.eventsVP, k, keys)
		m.eventsFollow = m.eventsVP.AtBottom()
	case paneLogs:
		scrollViewport(&m.logsVP, k, keys)
		switch {
		case key.Matches(k, keys.Up), key.Matches(k, keys.PageUp), key.Matches(k, keys.Home):
			m.follow = m.logsVP.AtBottom() && m.follow
		case key.Matches(k, keys.End):
			m.follow = true
		case key.Matches(k, keys.Down), key.Matches(k, keys.PageDown):
			if m.logsVP.AtBottom() {
				m.follow = true
			}
		}
	}
	return m
}

func scrollViewport(vp *viewport.Model, k tea.KeyMsg, keys keyMap) {
	switch {
	case key.Matches(k, keys.Up):
		vp.LineUp(1)
	case key.Matches(k, keys.Down):
		vp.LineDown(1)
	case key.Matches(k, keys.PageUp):
		vp.PageUp()
	case key.Matches(k, keys.PageDown):
		vp.PageDown()
	case key.Matches(k, keys.Home):
		vp.GotoTop()
	case key.Matches(k, keys.End):
		vp.GotoBottom()
	}
}
