package tui

import (
	"fmt"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/starlight-go/starlight/status"
)

// Worker focus: the Workers pane has a selected row (when it has the
// focus), enter shows that worker's lines alone in the Logs pane, x
// recycles it and K kills it after a y/n.

// selection is the selected row of the Workers pane: its slot, which a
// worker's replacement takes over, and the pid chosen.
type selection struct {
	slot int
	pid  int
	// after a recycle or a kill asked at this time, the selection moves to
	// the replacement: the worker started since, in the same slot or,
	// when the pool gave it another, the newest.
	replacing time.Time
}

// selectedIndex is the row of the selected worker in m.snap.Workers, or
// -1 when there are none. A selection lost (its worker gone) falls on the
// worker in its slot, else the replacement, else the first row.
func (m model) selectedIndex() int {
	ws := m.snap.Workers
	if len(ws) == 0 {
		return -1
	}
	for i, w := range ws {
		if w.PID == m.sel.pid {
			return i
		}
	}
	for i, w := range ws {
		if w.Slot == m.sel.slot {
			return i
		}
	}
	if !m.sel.replacing.IsZero() {
		best := -1
		for i, w := range ws {
			if w.Started.After(m.sel.replacing) && (best < 0 || w.Started.After(ws[best].Started)) {
				best = i
			}
		}
		if best >= 0 {
			return best
		}
	}
	return 0
}

// settleSelection makes the selection name the worker selectedIndex
// finds, and keeps it in view.
func (m model) settleSelection() model {
	i := m.selectedIndex()
	if i < 0 {
		return m
	}
	w := m.snap.Workers[i]
	if w.PID != m.sel.pid {
		if m.sel.pid != 0 && !m.sel.replacing.IsZero() && w.Started.After(m.sel.replacing) {
			m.sel.replacing = time.Time{} // found the replacement
			if m.logPID == m.sel.pid {
				m.logPID = w.PID // and its logs follow
				m = m.refreshLogs(0)
			}
		}
		m.sel.pid = w.PID
	}
	m.sel.slot = w.Slot
	rows := m.workerRows()
	if i < m.workerTop {
		m.workerTop = i
	} else if i >= m.workerTop+rows {
		m.workerTop = i - rows + 1
	}
	m.workerTop = m.clampWorkerTop(m.workerTop)
	return m
}

// moveSelection moves the selected row by d (clamped).
func (m model) moveSelection(d int) model {
	ws := m.snap.Workers
	if len(ws) == 0 {
		return m
	}
	i := max(0, min(len(ws)-1, m.selectedIndex()+d))
	m.sel = selection{slot: ws[i].Slot, pid: ws[i].PID}
	return m.settleSelection()
}

// selectedWorker is the selected worker, if any.
func (m model) selectedWorker() (status.WorkerInfo, bool) {
	if i := m.selectedIndex(); i >= 0 {
		return m.snap.Workers[i], true
	}
	return status.WorkerInfo{}, false
}

// workersKey handles the keys of the Workers pane; handled is false for
// the ones it leaves to scrolling.
func (m model) workersKey(k tea.KeyMsg) (model, tea.Cmd, bool) {
	keys := m.keys
	switch {
	case key.Matches(k, keys.Up):
		return m.moveSelection(-1), nil, true
	case key.Matches(k, keys.Down):
		return m.moveSelection(+1), nil, true
	case key.Matches(k, keys.PageUp):
		return m.moveSelection(-m.workerRows()), nil, true
	case key.Matches(k, keys.PageDown):
		return m.moveSelection(m.workerRows()), nil, true
	case key.Matches(k, keys.Home):
		return m.moveSelection(-len(m.snap.Workers)), nil, true
	case key.Matches(k, keys.End):
		return m.moveSelection(len(m.snap.Workers)), nil, true
	case key.Matches(k, keys.Enter):
		w, ok := m.selectedWorker()
		if !ok {
			return m, nil, true
		}
		if m.logPID == w.PID {
			m.logPID = 0
			m = m.refreshLogs(0)
			return m.setFlash("logs of every worker"), nil, true
		}
		m.logPID = w.PID
		m.follow = true
		m = m.refreshLogs(0)
		return m.setFlash(fmt.Sprintf("logs of worker %d only — enter again or esc for all", w.PID)), nil, true
	case key.Matches(k, keys.Recycle):
		w, ok := m.selectedWorker()
		if !ok {
			return m, nil, true
		}
		m.sel.replacing = m.refTime()
		cmd := m.sendPID(status.CmdRecycle, w.PID)
		return m.setFlash(fmt.Sprintf("recycling worker %d", w.PID)), cmd, true
	case key.Matches(k, keys.Kill):
		w, ok := m.selectedWorker()
		if !ok {
			return m, nil, true
		}
		m.confirmKill = w.PID
		return m, nil, true
	}
	return m, nil, false
}

// confirmKey answers the kill question: y kills, anything else does not.
func (m model) confirmKey(k tea.KeyMsg) (model, tea.Cmd) {
	pid := m.confirmKill
	m.confirmKill = 0
	if k.Type == tea.KeyRunes && len(k.Runes) == 1 && (k.Runes[0] == 'y' || k.Runes[0] == 'Y') {
		m.sel.replacing = m.refTime()
		cmd := m.sendPID(status.CmdKill, pid)
		return m.setFlash(fmt.Sprintf("killing worker %d", pid)), cmd
	}
	return m.setFlash("not killed"), nil
}
