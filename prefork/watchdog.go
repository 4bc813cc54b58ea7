package prefork

import (
	"fmt"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/status"
)

// stackWait bounds how long a frozen worker has to write its goroutine
// stacks (SIGQUIT) before it is killed.
const stackWait = 2 * time.Second

// masterPause is a gap between two housekeeping rounds that says the
// master itself did not run (stopped, or the machine asleep): heartbeats
// are not judged on what happened meanwhile.
const masterPause = 2 * time.Second

// watchdog finds frozen workers: a ready worker's runtime stamps its slot
// at least once a second (httpserver's heartbeat), and one not stamped for
// --worker-timeout no longer runs goroutines (a stopped process, a stuck
// runtime, a cgo call that never returns). It is continued if stopped,
// asked for its goroutine stacks (SIGQUIT, which the Go runtime answers
// with a dump on stderr, into the log), killed stackWait later, and
// replaced at once.
func (m *Master) watchdog(now time.Time) {
	limit := m.cfg.WorkerTimeout
	if limit <= 0 || m.board == nil {
		return
	}
	if !m.lastWatch.IsZero() && now.Sub(m.lastWatch) > masterPause {
		m.watchFrom = now
	}
	m.lastWatch = now
	for _, p := range m.procs {
		if p.killed == killFrozen {
			if !p.killAt.IsZero() && now.After(p.killAt) {
				p.killAt = time.Time{}
				m.workers.signal(p, syscall.SIGKILL)
			}
			continue
		}
		if p.killed != notKilled || !p.ready {
			continue
		}
		hb := m.board.Slot(p.slot).Heartbeat.Load()
		if hb == 0 {
			continue
		}
		beat := time.Unix(0, hb)
		if now.Sub(beat) > limit && now.Sub(m.watchFrom) > limit {
			m.frozen(p, now, now.Sub(beat))
		}
	}
}

// frozen handles a worker whose heartbeat stopped d ago.
func (m *Master) frozen(p *proc, now time.Time, d time.Duration) {
	p.killed, p.frozenFor, p.killAt = killFrozen, d, now.Add(stackWait)
	if p.retire == notRetired {
		p.retire, p.why = retireFrozen, "frozen"
	}
	m.left(p, now)
	p.words.captureStacks()
	m.workers.signal(p, syscall.SIGCONT)
	m.workers.signal(p, syscall.SIGQUIT)
	m.emit(status.Event{Kind: status.EventError, PID: p.pid, Slot: p.slot, Generation: p.gen,
		Message: fmt.Sprintf("worker %d frozen for %s (no heartbeat; --worker-timeout %s): its stacks go to the log, then it is killed and replaced", p.pid, d.Round(time.Second), m.cfg.WorkerTimeout)})
}

// memoryCheckEvery is how often --max-worker-memory reads the workers'
// resident sizes.
const memoryCheckEvery = time.Second

// checkMemory recycles the ready workers whose resident size is over
// --max-worker-memory: each drains and a replacement starts at once.
func (m *Master) checkMemory(now time.Time) {
	limit := m.cfg.MaxWorkerMemory
	if limit == 0 || now.Sub(m.lastMemCheck) < memoryCheckEvery {
		return
	}
	m.lastMemCheck = now
	for _, p := range m.procs {
		if !p.serving() || !p.ready {
			continue
		}
		if size := m.workers.residentSize(p.pid); size > limit {
			m.retire(p, retireMemory, fmt.Sprintf("memory %s > %s", formatSize(size), formatSize(limit)))
		}
	}
}

// formatSize writes a size the way --max-worker-memory takes it: 530 MB.
func formatSize(n uint64) string {
	switch {
	case n >= 10<<30:
		return fmt.Sprintf("%d GB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
