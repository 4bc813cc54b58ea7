package prefork

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/starlight-go/starlight/internal/sdnotify"
	"github.com/starlight-go/starlight/status"
)

// reload starts a slow restart: rebuild the app if it is a source
// directory, then replace the workers one by one with the new generation.
func (m *Master) reload(why string) {
	if m.stopping > 0 {
		m.info("no reload (%s): stopping", why)
		return
	}
	m.rereadTLS()
	// A halted master stays halted while it builds: its generation cannot
	// start, so no worker of it is spawned; the new one's rollout ends the
	// halt (startRollout).
	if m.building != nil {
		m.building() // a newer change makes the build in flight stale
		m.building = nil
		m.info("build of generation %d cancelled: superseded by a newer change", m.lastGen)
	}
	m.lastGen++
	gen := m.lastGen
	sdnotify.Notify(fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", monotonicUsec()))
	m.emit(status.Event{Kind: status.EventReloadStarted, Generation: gen, Message: fmt.Sprintf("reload started (%s): generation %d", why, gen)})
	if m.app.dir == "" {
		m.startRollout(gen, m.pin(m.app.binary, gen), why)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.building = cancel
	out := filepath.Join(m.buildDir, "app-"+strconv.Itoa(gen))
	go func() {
		err := buildApp(ctx, m.app, out, m.spawner.start)
		if errors.Is(err, context.Canceled) {
			os.Remove(out)
			return // superseded; the newer build reports
		}
		m.buildc <- buildResult{gen: gen, binary: out, err: err, why: why}
	}()
}

// built handles the end of a build.
func (m *Master) built(b buildResult) {
	if b.gen != m.lastGen || m.stopping > 0 {
		os.Remove(b.binary)
		return // stale
	}
	m.building = nil
	if b.err != nil {
		var be *BuildError
		detail := ""
		if errors.As(b.err, &be) {
			detail = be.Output
		}
		os.Remove(b.binary)
		sdnotify.Notify("READY=1")
		outcome := fmt.Sprintf("generation %d keeps serving", m.gen)
		if m.halted {
			outcome = "the app still cannot start; waiting for a change"
		}
		m.emit(status.Event{Kind: status.EventReloadFailed, Generation: b.gen,
			Message: fmt.Sprintf("build of generation %d failed; %s: %v", b.gen, outcome, b.err), Detail: detail})
		return
	}
	m.emit(status.Event{Kind: status.EventReloadBuilt, Generation: b.gen, Message: fmt.Sprintf("generation %d built", b.gen)})
	m.startRollout(b.gen, b.binary, b.why)
}

func (m *Master) startRollout(gen int, binary, why string) {
	if m.roll != nil && m.roll.binary != binary && m.roll.binary != m.binary {
		defer m.unpin(m.roll.binary) // superseded before it finished
	}
	m.roll = &rollout{gen: gen, binary: binary, why: why}
	m.halted, m.haltReason = false, "" // a new generation to try
}

func (m *Master) finishRollout(r *rollout) {
	m.roll = nil
	m.gen, m.binary = r.gen, r.binary
	m.mu.Lock()
	m.view.reloads++
	m.mu.Unlock()
	sdnotify.Notify("READY=1")
	m.emit(status.Event{Kind: status.EventReloadFinished, Generation: r.gen,
		Message: fmt.Sprintf("reload finished: generation %d serves on every worker", r.gen)})
	m.removeStaleBinary()
}

// rollback abandons a rollout: the new generation's workers go, the old
// generation keeps serving.
func (m *Master) rollback(reason string) {
	r := m.roll
	if r == nil {
		return
	}
	m.roll = nil
	m.unpinStale()
	for _, p := range m.procs {
		if p.gen == r.gen && p.retire == notRetired {
			m.retire(p, retireRollback, "rollback")
		}
	}
	sdnotify.Notify("READY=1")
	if !m.everReady && m.watching() {
		// The old generation never served either: spawning it again
		// would only crash; wait for the next change instead.
		m.halt("reload rolled back: " + reason)
		m.emit(status.Event{Kind: status.EventReloadFailed, Generation: r.gen,
			Message: fmt.Sprintf("reload rolled back: %s; the app still cannot start; waiting for a change", reason)})
		return
	}
	m.emit(status.Event{Kind: status.EventReloadFailed, Generation: r.gen,
		Message: fmt.Sprintf("reload rolled back: %s; generation %d keeps serving", reason, m.gen)})
}

// removeStaleBinary deletes builds no worker runs and no rollout needs,
// and lets go of pinned executables no spawn needs.
func (m *Master) removeStaleBinary() {
	m.unpinStale()
	if m.buildDir == "" {
		return
	}
	keep := map[string]bool{m.binary: true}
	if m.roll != nil {
		keep[m.roll.binary] = true
	}
	used := map[int]bool{}
	for _, p := range m.procs {
		used[p.gen] = true
	}
	entries, _ := os.ReadDir(m.buildDir)
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "app-")
		if !ok {
			continue
		}
		gen, err := strconv.Atoi(n)
		path := filepath.Join(m.buildDir, e.Name())
		if err != nil || keep[path] || used[gen] || gen >= m.lastGen {
			continue
		}
		os.Remove(path)
	}
}
