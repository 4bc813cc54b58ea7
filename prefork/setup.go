package prefork

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
)

// setupStep is one step of a master's start. A step that acquires
// something registers its undo (atExit) as soon as it holds it, so that a
// failed start, like a stop, releases exactly what was acquired.
type setupStep struct {
	name string
	run  func() error
}

// setup runs the steps of a start in order; the first that fails ends it
// with its exit status. Start's caller then runs cleanup.
func (m *Master) setup() error {
	m.started = time.Now()
	for _, s := range []setupStep{
		{"descriptors and files", m.setupHygiene},
		{"signals", m.setupSignals},
		{"logs", m.setupLogs},
		{"build directory", m.setupBuildDir},
		{"first build", m.setupFirstBuild},
		{"listeners", m.setupListeners},
		{"pid file", m.setupPidFile},
		{"control socket", m.setupControl},
		{"metrics", m.setupMetrics},
		{"ownership", m.setupOwnership},
		{"TLS", m.setupTLS},
		{"notes", m.setupNotes},
		{"privileges", m.setupPrivileges},
		{"scoreboard", m.setupScoreboard},
		{"watcher", m.setupWatcher},
		{"control serving", m.startControl},
		{"metrics serving", m.startMetrics},
		{"banner", m.setupBanner},
	} {
		if err := s.run(); err != nil {
			return err
		}
	}
	return nil
}

// atExit registers the undo of what a step acquired; cleanup runs them
// last registered first.
func (m *Master) atExit(f func()) { m.undo = append(m.undo, f) }

// cleanup releases what setup acquired, in the reverse order; workers are
// gone by now. The pid file goes last: its absence tells that the server
// has stopped, sockets and all.
func (m *Master) cleanup() {
	for i := len(m.undo) - 1; i >= 0; i-- {
		m.undo[i]()
	}
	m.undo = nil
	if m.pidFile {
		removePidFile(m.cfg.PidFile, m.pidLock)
		m.pidLock.Close()
		m.pidFile = false
	}
}

// setupSignals: signals are the master's from the start (a stop during
// the first build must cancel it and clean up, and TTIN must not stop the
// process, the default action of an untrapped SIGTTIN); workers and builds
// are started from one thread that never exits, so that their
// parent-death signal means the master's death; the umask applies to
// every file from here on.
func (m *Master) setupSignals() error {
	m.trapSignals()
	m.atExit(m.stopSignals)
	m.spawner = newSpawner()
	if m.cfg.Umask >= 0 {
		syscall.Umask(m.cfg.Umask)
	}
	return nil
}

// setupLogs opens --error-log and --access-log; from here on a log that
// does not keep up never blocks the master.
func (m *Master) setupLogs() error {
	if m.cfg.ErrorLog != "" {
		s, err := openSink(m.cfg.ErrorLog, m.fileOwner())
		if err != nil {
			return &OptionError{err: fmt.Errorf("--error-log: %w", err)}
		}
		m.errw = s
		if m.daemonized() {
			// Runtime crashes of the master land in the log too.
			syscall.Dup2(int(s.f.Fd()), 2)
			m.outw = s
		}
	}
	if m.cfg.AccessLog == "-" {
		m.accessw = m.outw
	} else if m.cfg.AccessLog != "" {
		s, err := openSink(m.cfg.AccessLog, m.fileOwner())
		if err != nil {
			return &OptionError{err: fmt.Errorf("--access-log: %w", err)}
		}
		m.accessw = s
	}
	for _, s := range []*sink{m.errw, m.outw, m.accessw} {
		s.background()
	}
	for _, n := range m.cfg.Notes {
		m.info("%s", n)
	}
	return nil
}

// setupBuildDir makes the directory a source APP's builds go to, and an
// executable APP's generations are pinned in (see pin.go), after removing
// those that killed masters left.
func (m *Master) setupBuildDir() error {
	m.lastGen, m.gen = 1, 1
	m.binary = m.app.binary
	if m.app.dir == "" && m.cfg.Workers == 0 {
		return nil
	}
	if n := sweepBuildDirs(); n > 0 {
		m.info("removed build directories that killed masters left in %s: %d", os.TempDir(), n)
	}
	dir, lock, err := makeBuildDir()
	if err != nil {
		return buildDirError(err)
	}
	m.buildDir, m.buildLock = dir, lock
	m.atExit(func() {
		os.RemoveAll(m.buildDir)
		m.buildLock.Close()
	})
	return nil
}

// setupFirstBuild builds a source APP before anything is bound.
func (m *Master) setupFirstBuild() error {
	if m.app.dir == "" {
		return nil
	}
	m.binary = filepath.Join(m.buildDir, "app-1")
	return m.firstBuild()
}

// setupListeners binds the listeners, or takes systemd's.
func (m *Master) setupListeners() error {
	ls, err := systemdListeners(m.cfg.SSL)
	if err == nil && ls == nil {
		ls, err = bind(&m.cfg, m.fileOwner())
	} else if err == nil {
		m.info("using %s from systemd", plural(len(ls), "socket"))
		if m.cfg.AddressGiven {
			m.info("--host, --port, --listen and --socket are ignored: the sockets come from systemd")
		}
		if m.cfg.ReusePort {
			closeListeners(ls)
			err = errors.New("--reuse-port binds a socket per worker, and the sockets come from systemd: drop one of them")
		}
	}
	if err != nil {
		return err
	}
	m.listeners = ls
	m.atExit(func() { closeListeners(m.listeners) })
	for _, l := range m.listeners {
		if l.replacedStale {
			m.info("removed stale socket %s", l.path)
		}
	}
	return nil
}

// setupPidFile writes --pid; cleanup removes it last of all.
func (m *Master) setupPidFile() error {
	if m.cfg.PidFile == "" {
		return nil
	}
	var err error
	var replaced string
	if m.pidLock, replaced, err = writePidFile(m.cfg.PidFile, os.Getpid(), m.fileOwner()); err != nil {
		return err
	}
	if replaced != "" {
		m.info("%s", replaced)
	}
	m.pidFile = true
	return nil
}

// setupOwnership hands what the workers' user needs to it: the build
// directory and the build in it; the log files, which stay writable and
// reopenable on SIGUSR1 after the switch; and the unix sockets, as
// gunicorn's are, so that a proxy running as that user (or group) can
// connect.
func (m *Master) setupOwnership() error {
	if m.buildDir != "" {
		if err := m.id.chown(m.buildDir); err != nil {
			return buildDirError(err)
		}
		if m.app.dir != "" {
			m.id.chown(m.binary) // the build, never the user's own executable
		}
	}
	return m.handOverFiles()
}

// setupTLS reads the certificate and key before switching user: the key
// is often readable by root alone; every worker gets it (see tlsPEMFile).
func (m *Master) setupTLS() error {
	if m.id == nil || !m.cfg.SSL || m.cfg.SSLCertFile == "" {
		return nil
	}
	var err error
	if m.tlsPEM, err = readTLSPEM(&m.cfg); err != nil {
		return err
	}
	return nil
}

// setupPrivileges switches to --user and --group, and pins an executable
// APP as that user: what it cannot run fails now, not at the first
// reload. With --max-workers 0 the app then takes this process's place.
func (m *Master) setupPrivileges() error {
	if err := m.id.drop(); err != nil {
		return err
	}
	if m.app.dir == "" && m.cfg.Workers > 0 {
		m.binary = m.pin(m.app.binary, 1)
	}
	if m.cfg.Workers == 0 {
		return m.execInPlace()
	}
	return nil
}

// setupScoreboard creates the scoreboard and the pipe whose end tells
// the workers that the master is gone.
func (m *Master) setupScoreboard() error {
	// The master's work is small and rarely urgent (reaping, a snapshot a
	// few times a second, a dashboard); the CPUs are the workers'. One P
	// also keeps the garbage collector's idle-time marking, which would
	// take every idle CPU during a collection, off the workers' cores.
	runtime.GOMAXPROCS(1)
	slots := 2*MaxWorkers + 16
	var err error
	if m.board, err = scoreboard.Create(slots); err != nil {
		return err
	}
	m.atExit(func() { m.board.Close() })
	for i := slots - 1; i >= 0; i-- {
		m.freeSlots = append(m.freeSlots, i)
	}
	if m.deathR, m.deathW, err = os.Pipe(); err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	m.atExit(func() {
		m.deathW.Close()
		m.deathR.Close()
	})
	return nil
}

// setupWatcher watches the app for live reload.
func (m *Master) setupWatcher() error {
	if !m.watching() {
		return nil
	}
	if err := m.startWatcher(); err != nil {
		return err
	}
	m.atExit(func() { m.watcher.Close() })
	return nil
}

// setupBanner says what serves where.
func (m *Master) setupBanner() error {
	var urls []string
	for _, l := range m.listeners {
		urls = append(urls, l.url)
	}
	msg := fmt.Sprintf("starlight %s serving %s with %s (pid %d)", m.app.name, strings.Join(urls, " "), plural(m.target, "worker"), os.Getpid())
	if c := m.controlNames(); c != "" {
		msg += "; control " + c
	}
	m.emit(status.Event{Kind: status.EventStarted, Generation: m.gen, Message: msg})
	m.publish()
	return nil
}
