package prefork

import (
	"fmt"
	"time"

	"github.com/starlight-go/starlight/internal/sdnotify"
	"github.com/starlight-go/starlight/status"
)

// stop begins a stop: graceful lets requests finish, immediate kills.
func (m *Master) stop(immediate bool, why string) {
	if m.stopping == stopNow || (m.stopping == stopGraceful && !immediate) {
		return
	}
	if m.building != nil {
		m.building()
		m.building = nil
	}
	m.roll = nil
	sdnotify.Notify("STOPPING=1")
	if !m.announced && m.failure != nil {
		m.launched(m.failure)
	}
	if immediate {
		m.emit(status.Event{Kind: status.EventStopping, Message: fmt.Sprintf("stopping now (%s): killing %s", why, plural(len(m.procs), "worker"))})
		m.forceStop()
		return
	}
	m.stopping = stopGraceful
	m.stopBy = time.Now().Add(m.cfg.GracefulTimeout + stopMargin)
	// Nothing will accept again: let the sockets close as soon as the
	// workers let go of them, so that new clients are refused at once
	// rather than queued until the master exits.
	closeListeners(m.listeners)
	finish := plural(len(m.procs), "worker") + " finish their requests"
	if len(m.procs) == 1 {
		finish = "1 worker finishes its requests"
	}
	m.emit(status.Event{Kind: status.EventStopping, Message: fmt.Sprintf("stopping gracefully (%s): %s", why, finish)})
	for _, p := range m.procs {
		m.retire(p, retireStop, "stop")
	}
}

// stopMargin is how long past --graceful-timeout a graceful stop waits
// before it kills: each worker cuts what it still serves at
// --graceful-timeout, counts it and exits, and the app's code after
// Serve returns runs; the margin lets that exit, rather than the
// master's SIGKILL in the same instant, end the worker.
const stopMargin = 500 * time.Millisecond

func (m *Master) forceStop() {
	m.stopping = stopNow
	now := time.Now()
	for _, p := range m.procs {
		if p.retire == notRetired {
			p.retire, p.why = retireStop, "stop"
		}
		m.kill(p, killStop, now)
	}
}

// stopMode is how far a stop of the master has gone.
type stopMode uint8

const (
	running      stopMode = iota
	stopGraceful          // workers finish their requests
	stopNow               // workers are killed
)
