package tui

import (
	"sync"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/starlight-go/starlight/status"
)

// commandOrder makes commands reach the master in the order the keys were
// pressed: bubbletea runs each command in a goroutine of its own, so two
// quick keys (ctrl+c twice: stop, then force-stop) could otherwise arrive
// swapped. Each command has a ticket and waits for the one before it, which
// is short since Master.Do does not block.
type commandOrder struct {
	mu   sync.Mutex
	cond *sync.Cond
	next uint64 // the ticket whose turn it is
}

func newCommandOrder() *commandOrder {
	o := &commandOrder{}
	o.cond = sync.NewCond(&o.mu)
	return o
}

func (o *commandOrder) run(ticket uint64, f func()) {
	o.mu.Lock()
	for o.next != ticket {
		o.cond.Wait()
	}
	o.mu.Unlock()
	f()
	o.mu.Lock()
	o.next++
	o.cond.Broadcast()
	o.mu.Unlock()
}

// send returns a command that asks the master for kind, after whatever
// the model asked before.
func (m *model) send(kind status.CommandKind) tea.Cmd {
	return m.sendPID(kind, 0)
}

// sendPID is send for a command about one worker.
func (m *model) sendPID(kind status.CommandKind, pid int) tea.Cmd {
	master, order, ticket := m.cfg.master, m.cfg.order, m.sent
	m.sent++
	return func() tea.Msg {
		order.run(ticket, func() { master.Do(status.Command{Kind: kind, PID: pid}) })
		return nil
	}
}
