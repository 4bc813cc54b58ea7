package prefork

import (
	"strconv"
	"time"

	"github.com/starlight-go/starlight/status"
)

// procByPID is the live worker pid, or nil with an event saying so.
func (m *Master) procByPID(pid int, what string) *proc {
	if p := m.procs[pid]; p != nil {
		return p
	}
	m.info("no worker %d to %s: it has exited", pid, what)
	return nil
}

// recycleWorker has one worker drain and exit, as after its request
// budget; the pool starts another in its place at once.
func (m *Master) recycleWorker(pid int) {
	p := m.procByPID(pid, "recycle")
	if p == nil {
		return
	}
	if !p.serving() {
		m.info("worker %d is exiting already", pid)
		return
	}
	m.emit(status.Event{Kind: status.EventInfo, PID: p.pid, Slot: p.slot, Generation: p.gen,
		Message: "recycling worker " + strconv.Itoa(p.pid) + " as asked"})
	m.retire(p, retireAsked, "asked")
}

// killWorker kills one worker with SIGKILL, whatever it is doing (an
// exiting worker too: one stuck draining); the pool starts another in its
// place. Its requests in flight are cut.
func (m *Master) killWorker(pid int) {
	p := m.procByPID(pid, "kill")
	if p == nil {
		return
	}
	m.emit(status.Event{Kind: status.EventInfo, PID: p.pid, Slot: p.slot, Generation: p.gen,
		Message: "killing worker " + strconv.Itoa(p.pid) + " (SIGKILL) as asked"})
	m.kill(p, killAsked, time.Now())
}
