package prefork

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
)

// emit reports an event to the observer and, headless or with an error
// log, as a log line.
func (m *Master) emit(e status.Event) { m.report(e, true) }

// report is emit; logDetail says whether the log gets the event's Detail
// as well (not when the worker's own output already put it there).
func (m *Master) report(e status.Event, logDetail bool) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if m.obs != nil {
		m.obs.Event(e)
	}
	if m.ctl != nil {
		m.ctl.Event(e)
	}
	if m.metrics != nil {
		m.metrics.event(e)
	}
	if m.said != nil {
		*m.said = append(*m.said, e)
	}
	if e.Kind == status.EventStarted && m.cfg.Quiet {
		// -q suppresses the startup banner, as in Perl Starlight.
	} else if m.obs == nil || !m.live || m.cfg.ErrorLog != "" {
		line := stamp(e.Time) + " starlight: " + e.Message + "\n"
		if e.Detail != "" && logDetail {
			line += e.Detail + "\n"
		}
		m.errw.Write([]byte(line))
	}
}

// logFlushTimeout bounds how long an exit waits for a stalled log.
const logFlushTimeout = 2 * time.Second

// flushLogs waits (bounded) for the logs to take what was written to them.
func (m *Master) flushLogs() {
	deadline := time.Now().Add(logFlushTimeout)
	for _, s := range []*sink{m.errw, m.outw, m.accessw} {
		s.flush(deadline)
	}
}

func (m *Master) info(format string, a ...any) {
	m.emit(status.Event{Kind: status.EventInfo, Message: fmt.Sprintf(format, a...)})
}

// publish copies the loop's state for Snapshot.
func (m *Master) publish() {
	ps := make([]procView, 0, len(m.procs))
	for _, p := range m.procs {
		ps = append(ps, procView{pid: p.pid, slot: p.slot, gen: p.gen, started: p.started})
	}
	m.mu.Lock()
	m.view.procs = ps
	m.view.generation = m.gen
	if m.roll != nil {
		m.view.generation = m.roll.gen
	}
	m.view.target = m.target
	m.view.build = m.appPath(m.binary)
	reloading := m.roll != nil || m.building != nil
	switch {
	case !reloading:
		m.view.reloadGen, m.view.reloadSince = 0, time.Time{}
	case !m.view.reloading || m.view.reloadGen != m.lastGen:
		m.view.reloadGen, m.view.reloadSince = m.lastGen, time.Now()
	}
	m.view.reloading = reloading
	m.view.building = m.building != nil
	m.view.stopping = m.stopping != running
	m.view.halted, m.view.haltReason = m.halted, m.haltReason
	m.mu.Unlock()
}

// Snapshot returns the state of the pool now.
//
// The request counts are consistent: a worker reaped while its slot is
// read is read again, so that the total never goes backwards.
func (m *Master) Snapshot() status.Snapshot {
	for try := 0; ; try++ {
		s, seq := m.snapshot()
		m.mu.Lock()
		same := seq == m.view.seq
		m.mu.Unlock()
		if same || try == 3 {
			return s
		}
	}
}

// snapshot is one attempt of Snapshot, and the view's seq it read.
func (m *Master) snapshot() (status.Snapshot, uint64) {
	m.mu.Lock()
	v := m.view
	v.procs = append([]procView(nil), v.procs...)
	m.mu.Unlock()
	s := status.Snapshot{
		Time:       time.Now(),
		Started:    m.started,
		App:        m.app.name,
		Build:      v.build,
		Generation: v.generation,
		Target:     v.target,
		Requests:   v.retired,
		Recycles:   v.recycles,
		Crashes:    v.crashes,
		Reloads:    v.reloads,
		Reloading:  v.reloading,
		Stopping:   v.stopping,
		Halted:     v.halted,
		HaltReason: v.haltReason,
		HTTP:       v.retiredHTTP,

		ReloadGen:   v.reloadGen,
		ReloadSince: v.reloadSince,
		Building:    v.building,
	}
	for _, l := range m.listeners {
		s.Listeners = append(s.Listeners, l.url)
	}
	for _, p := range v.procs {
		w := status.WorkerInfo{Slot: p.slot, PID: p.pid, Generation: p.gen, Started: p.started, RSS: rss(p.pid)}
		if m.board != nil {
			sl := m.board.Slot(p.slot)
			w.Requests = sl.Requests.Load()
			w.Budget = sl.Budget.Load()
			w.Active = int(sl.Active.Load())
			w.Hijacked = int(sl.Hijacked.Load())
			w.HTTP = slotHTTP(sl)
			switch sl.State.Load() {
			case scoreboard.Starting:
				w.State = status.StateStarting
			case scoreboard.Exiting:
				w.State = status.StateExiting
			default:
				w.State = status.StateIdle
				if w.Active > 0 || w.Hijacked > 0 {
					w.State = status.StateBusy
				}
			}
			if line, start := sl.InFlight(); start > 0 && w.Active > 0 {
				w.InFlight, w.Since = line, time.Unix(0, start)
			}
		}
		s.Requests += w.Requests
		s.HTTP.Add(w.HTTP)
		s.Workers = append(s.Workers, w)
	}
	sortWorkers(s.Workers)
	return s, v.seq
}

// rss reads a process's resident set size from /proc (0 elsewhere).
func rss(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// plural says n things: "1 worker", "2 workers".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
