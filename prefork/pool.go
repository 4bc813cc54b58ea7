package prefork

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/internal/sdnotify"
	"github.com/starlight-go/starlight/status"
)

// reconcile starts and retires workers towards the wanted pool and
// returns when it next wants to run (zero: only on an event).
func (m *Master) reconcile(now time.Time) time.Time {
	if m.stopping > 0 || m.halted {
		return time.Time{}
	}
	// Draining workers never hold back a replacement: past their limit,
	// the one draining longest goes.
	m.limitDraining(now)
	if r := m.roll; r != nil {
		return m.reconcileRollout(now, r)
	}
	var alive []*proc
	starting := 0
	for _, p := range m.procs {
		if p.serving() {
			alive = append(alive, p)
			if !p.ready {
				starting++
			}
		}
	}
	missing := max(m.target-len(alive), 0)
	if m.crash.gen == m.gen {
		m.crash.owed = min(m.crash.owed, missing)
	}
	for n := len(alive); n < m.target; n++ {
		// The last places to fill are those of crashed workers: only
		// they wait for the backoff. While fewer than crashFloor
		// workers serve and the app is known to start, replacements go
		// ahead of it, so that the next crash does not empty the pool.
		owed := m.crash.gen == m.gen && m.target-n <= m.crash.owed
		if owed && m.crashHold(m.gen, now, starting) && !(n < min(crashFloor, m.target) && m.crash.afterReady) {
			if now.Before(m.crash.till) {
				return m.crash.till
			}
			break // one at a time until one is ready
		}
		if later, ok := m.spawnNow(now); !ok {
			return later
		}
		if owed {
			m.crash.owed--
		}
		starting++
	}
	if starting == 0 && len(m.procs) < m.laneCount()+m.target && m.lanesUnfilled(m.gen) {
		// --reuse-port, scaled down: a worker for the lanes of a
		// position nobody holds; the workers it covers go once it serves.
		// (At most one worker per lane may be finishing meanwhile.)
		if later, ok := m.spawnNow(now); !ok {
			return later
		}
	}
	for n := len(alive); n > m.target; n-- {
		p := m.pickRetiree(alive, alive, true)
		if p == nil {
			break // each holds a lane no other ready worker holds
		}
		m.retire(p, retireScale, "scaled down")
		alive = removeProc(alive, p)
	}
	return time.Time{}
}

// reconcileRollout replaces the old generations with r.gen one worker at a
// time: start one new worker, and when it is ready, retire one old one.
func (m *Master) reconcileRollout(now time.Time, r *rollout) time.Time {
	var fresh, old []*proc
	freshStarting := 0
	for _, p := range m.procs {
		if !p.serving() {
			continue
		}
		if p.gen == r.gen {
			fresh = append(fresh, p)
			if !p.ready {
				freshStarting++
			}
		} else {
			old = append(old, p)
		}
	}
	freshReady := len(fresh) - freshStarting
	for len(old) > 0 && freshReady+len(old) > m.target {
		if iv := m.cfg.SpawnInterval; iv > 0 && now.Sub(m.lastRetire) < iv {
			return m.lastRetire.Add(iv)
		}
		p := m.pickRetiree(old, slices.Concat(fresh, old), false)
		if p == nil {
			break // --reuse-port: each holds a lane no ready worker shares yet
		}
		m.retire(p, retireReplace, "replaced by generation "+strconv.Itoa(r.gen))
		m.lastRetire = now
		old = removeProc(old, p)
	}
	if (len(fresh) < m.target || m.lanesUnfilled(r.gen)) && freshStarting == 0 {
		if wait := m.spawnWait(now); !wait.IsZero() {
			return wait
		}
		if m.crash.gen == r.gen && now.Before(m.crash.till) {
			return m.crash.till // the new generation's workers crash
		}
		if err := m.spawn(r.gen, r.binary); err != nil {
			m.rollback(err.Error())
			return time.Time{}
		}
		return time.Time{}
	}
	if freshReady >= m.target && len(old) == 0 {
		if !m.oldStopAccepting(r.gen) {
			return now.Add(5 * time.Millisecond) // look again soon
		}
		m.finishRollout(r)
	}
	return time.Time{}
}

// oldStopAccepting reports whether every worker of a generation other
// than gen has stopped accepting (its slot says Exiting once it closed its
// listeners) or is gone: only then does every new connection reach gen.
func (m *Master) oldStopAccepting(gen int) bool {
	for _, p := range m.procs {
		if p.gen != gen && m.board.Slot(p.slot).State.Load() != scoreboard.Exiting {
			return false
		}
	}
	return true
}

// spawnNow starts a worker of the current generation if one may start now.
// If not, or if the start failed, it returns when to try again.
func (m *Master) spawnNow(now time.Time) (later time.Time, ok bool) {
	if wait := m.spawnWait(now); !wait.IsZero() {
		return wait, false
	}
	if err := m.spawn(m.gen, m.binary); err != nil {
		m.emit(status.Event{Kind: status.EventError, Message: err.Error()})
		m.startFailed(now, m.gen, true, "could not be started", err.Error(), false)
		if m.halted || m.stopping > 0 {
			return time.Time{}, false
		}
		return m.crash.till, false // in the past: at once
	}
	return time.Time{}, true
}

// spawnWait returns when the next spawn may happen, or zero for now.
func (m *Master) spawnWait(now time.Time) time.Time {
	if iv := m.cfg.SpawnInterval; iv > 0 && !m.lastSpawn.IsZero() && now.Sub(m.lastSpawn) < iv {
		return m.lastSpawn.Add(iv)
	}
	return time.Time{}
}

// pickRetiree picks one of ps to retire: a worker still starting, else an
// idle one, else the youngest. With --reuse-port only one that can go
// without leaving a lane to wait (other ready workers of pool hold its
// lanes) and, with keepPositions, without emptying a position of the
// current target (see spare); nil if there is none.
func (m *Master) pickRetiree(ps, pool []*proc, keepPositions bool) *proc {
	if m.laneCount() > 0 {
		var spare []*proc
		for _, p := range ps {
			if m.spare(p, pool, keepPositions) {
				spare = append(spare, p)
			}
		}
		ps = spare
	}
	if len(ps) == 0 {
		return nil
	}
	best := ps[0]
	score := func(p *proc) int {
		if !p.ready {
			return 2
		}
		if sl := m.board.Slot(p.slot); sl.Active.Load() == 0 && sl.Hijacked.Load() == 0 {
			return 1
		}
		return 0
	}
	for _, p := range ps[1:] {
		if s, b := score(p), score(best); s > b || (s == b && p.started.After(best.started)) {
			best = p
		}
	}
	return best
}

func removeProc(ps []*proc, p *proc) []*proc {
	for i, q := range ps {
		if q == p {
			return append(ps[:i], ps[i+1:]...)
		}
	}
	return ps
}

// retire asks a worker to finish its requests and exit; why is the
// reason's wording for the log.
func (m *Master) retire(p *proc, reason retireReason, why string) {
	p.retire, p.why = reason, why
	m.left(p, time.Now())
	m.workers.signal(p, syscall.SIGTERM)
}

// left notes when p stopped counting towards the pool.
func (m *Master) left(p *proc, now time.Time) {
	if p.leftAt.IsZero() {
		p.leftAt = now
	}
}

// kill ends a worker with SIGKILL.
func (m *Master) kill(p *proc, why killReason, now time.Time) {
	p.killed = why
	m.left(p, now)
	m.workers.signal(p, syscall.SIGKILL)
}

// budget draws a worker's request budget.
func (m *Master) budget() uint64 {
	max, min := m.cfg.MaxReqsPerChild, m.cfg.MinReqsPerChild
	if max == 0 {
		if min > 0 {
			return min + rand.Uint64N(min+1) // [min, 2*min]: unlimited max, but min asked for recycling
		}
		return 0
	}
	if min == 0 || min >= max {
		return max
	}
	return min + rand.Uint64N(max-min+1)
}

// housekeeping runs every main-process-delay: deadlines and streaks.
func (m *Master) housekeeping(now time.Time) {
	if m.crash.streak > 0 && now.Sub(m.crash.last) > crashQuiet {
		m.crash = crashState{}
	}
	if m.stopping == stopGraceful && now.After(m.stopBy) {
		m.emit(status.Event{Kind: status.EventStopping, Message: fmt.Sprintf("graceful stop took over %s: killing %s", m.cfg.GracefulTimeout, plural(len(m.procs), "worker"))})
		m.forceStop()
	}
	for _, p := range m.procs {
		switch {
		case !p.ready && p.retire == notRetired && now.Sub(p.started) > readyTimeout:
			p.retire, p.why = retireNotReady, "not ready after "+readyTimeout.String()
			m.kill(p, killNotReady, now)
		case m.stopping == running && p.killed == notKilled && !p.serving() && now.Sub(p.leftAt) > m.cfg.GracefulTimeout+overdueMargin:
			// Its own grace period ended it by now, unless it no
			// longer runs: a reload or a stop must not wait for it.
			m.kill(p, killOverdue, now)
		}
	}
	m.watchdog(now)
	m.checkMemory(now)
}

// crashFloor is how many workers the crash backoff never holds back
// while the app is known to start (its workers crashed after they were
// ready): two, so that one crash leaves one serving while its replacement
// starts.
const crashFloor = 2

// overdueMargin is how long past --graceful-timeout a worker that stopped
// accepting may take to exit (its own grace period cuts its requests at
// --graceful-timeout) before the master kills it.
const overdueMargin = 2 * time.Second

// drainLimit is how many workers may be draining at once (they finish
// their requests after they stopped accepting): as many as the pool,
// at least minDrainLimit.
func (m *Master) drainLimit() int { return max(m.target, minDrainLimit) }

const minDrainLimit = 4

// drainKillAge is how long a worker drains before the limit may kill it:
// under a burst of recycles (a small budget at a high rate, on a loaded
// machine) several drain at once for a few milliseconds each, and killing
// one would cut the requests it is finishing. Those that outlast it are
// held by slow clients or long requests.
const drainKillAge = time.Second

// limitDraining kills the workers that drained longest beyond
// drainLimit, once they have drained for drainKillAge: slow clients
// holding many recycled workers open must not fill the machine, and never
// stop a replacement from starting.
func (m *Master) limitDraining(now time.Time) {
	var leaving []*proc
	for _, p := range m.procs {
		if !p.serving() && p.killed == notKilled {
			leaving = append(leaving, p)
		}
	}
	extra := len(leaving) - m.drainLimit()
	if extra <= 0 {
		return
	}
	slices.SortFunc(leaving, func(a, b *proc) int { return a.leftAt.Compare(b.leftAt) })
	for _, p := range leaving[:extra] {
		if now.Sub(p.leftAt) < drainKillAge {
			break // and the rest left later
		}
		m.kill(p, killDrainLimit, now)
	}
}

// readied handles a worker's ready byte.
func (m *Master) readied(p *proc) {
	if m.procs[p.pid] != p || p.ready {
		return
	}
	p.ready = true
	p.words.done.Store(true)
	m.everReady = true
	m.startFails = 0
	m.halted, m.haltReason = false, "" // it can start after all
	if m.roll != nil && p.gen == m.roll.gen {
		m.roll.fails = 0
	}
	m.emit(status.Event{Kind: status.EventReady, PID: p.pid, Slot: p.slot, Generation: p.gen,
		Message: fmt.Sprintf("worker %d ready (generation %d) in %s", p.pid, p.gen, time.Since(p.started).Round(time.Millisecond))})
	if !m.announced {
		ready := 0
		for _, q := range m.procs {
			if q.ready {
				ready++
			}
		}
		if ready >= m.target {
			m.announced = true
			sdnotify.Notify(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving with %s", os.Getpid(), plural(ready, "worker")))
			m.flushLogs() // the lines so far are in the log when -D returns
			m.launched(nil)
		}
	}
}

// spawn starts one worker of generation gen running binary.
func (m *Master) spawn(gen int, binary string) error {
	if len(m.freeSlots) == 0 {
		return errors.New("spawn: the scoreboard is full")
	}
	slotIdx := m.freeSlots[len(m.freeSlots)-1]
	now := time.Now()
	w, err := m.workers.start(spawnSpec{gen: gen, binary: binary, slot: slotIdx, lanes: m.nextLanes(gen), now: now})
	if err != nil {
		return err
	}
	m.freeSlots = m.freeSlots[:len(m.freeSlots)-1]
	m.procs[w.pid] = w
	m.lastSpawn = time.Now() // after the fork: a slow one does not shorten the interval
	m.emit(status.Event{Kind: status.EventSpawned, PID: w.pid, Slot: slotIdx, Generation: gen,
		Message: fmt.Sprintf("worker %d spawned (generation %d, slot %d)", w.pid, gen, slotIdx)})
	return nil
}
