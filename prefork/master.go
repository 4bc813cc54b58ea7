package prefork

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/watcher"
)

// Tunables of the supervision that are not options.
const (
	readyTimeout     = 30 * time.Second // a worker not ready by then is killed
	crashQuiet       = 10 * time.Second // no crash for this long ends a crash streak
	maxBackoff       = 10 * time.Second
	startFailLimit   = 5 // workers in a row exiting before ready: the app cannot start
	rolloutFailLimit = 2 // new-generation workers in a row exiting before ready: roll back
)

// Master supervises the worker pool. Create it with New, then call Run.
// Snapshot and Do are safe from any goroutine.
type Master struct {
	cfg Config
	obs Observer

	app       *app
	buildDir  string
	buildLock *os.File       // held locked while buildDir is in use
	pins      map[string]int // pinned executables: spawn path to descriptor (pin.go)
	listeners []*listener
	board     *scoreboard.Board
	deathR    *os.File // workers inherit it; EOF tells them the master is gone
	deathW    *os.File // held open, never written
	spawner   *spawner
	errw      *sink // the master's log and the workers' stderr
	outw      *sink // the workers' stdout
	accessw   *sink // access log; nil = off
	// accessShown: the observer wants access-log lines (CmdAccessOn).
	accessShown bool
	started     time.Time

	// Channels into the loop.
	exitc   chan exitMsg
	readyc  chan *proc
	drainc  chan *proc
	cmdc    chan Command
	buildc  chan buildResult
	sigc    chan os.Signal
	changec chan []string
	notec   chan string // errors from helpers, to report

	watcher *watcher.Watcher

	// startProc starts a worker (startWorker) and stopProc asks one to
	// exit (SIGTERM); the pool's unit tests replace them.
	startProc func(gen int, binary string, slot int, lanes []int, now time.Time) (*proc, error)
	stopProc  func(p *proc)

	// Owned by the loop goroutine.
	procs       map[int]*proc // by pid
	freeSlots   []int
	gen         int    // generation new workers of the current build get
	binary      string // executable of that generation
	lastGen     int    // highest generation number handed out
	target      int
	roll        *rollout
	building    context.CancelFunc
	lastSpawn   time.Time
	lastRetire  time.Time
	crashStreak int
	lastCrash   time.Time
	backoffTill time.Time
	startFails  int  // workers in a row that exited before ready
	everReady   bool // some worker of this master was ready once
	halted      string
	stopping    int // 0 running, 1 graceful, 2 immediate
	stopBy      time.Time
	exitCode    int
	lastErr     string
	announced   bool // told systemd / the daemon launcher that we serve
	live        bool // Start is done: the observer shows what happens
	id          *identity
	tlsPEM      []byte   // certificate and key read before switching user, or nil
	tlsMemfd    *os.File // tlsPEM as workers get it (see tlsPEMFile)
	pidFile     bool     // we wrote cfg.PidFile
	pidLock     *os.File // cfg.PidFile, open and locked while we run

	// Shared with Snapshot.
	mu   sync.Mutex
	view view
	done chan struct{}
}

// view is what Snapshot reads, kept by the loop under mu.
type view struct {
	procs      []procView
	generation int
	target     int
	build      string
	retired    uint64
	recycles   int
	crashes    int
	reloads    int
	reloading  bool
	stopping   bool
	halted     bool
}

type procView struct {
	pid, slot, gen int
	started        time.Time
}

// proc is one worker process, as the master knows it.
type proc struct {
	pid      int
	slot     int
	gen      int
	started  time.Time
	ready    bool
	retiring string // why the master asked it to exit; "" if it did not
	draining bool   // it said it drains on its own (budget, harakiri)
	lanes    []int  // --reuse-port: the sockets it accepts on (see lanes.go)
	words    lastWords
}

// serving reports whether p counts towards the pool: neither asked to exit
// nor draining on its own. A draining worker has closed its listeners and
// only finishes its requests, so its replacement starts at once.
func (p *proc) serving() bool { return p.retiring == "" && !p.draining }

type exitMsg struct {
	p     *proc
	state *os.ProcessState
}

type buildResult struct {
	gen    int
	binary string
	err    error
	why    string
}

type rollout struct {
	gen    int
	binary string
	fails  int
	why    string
}

// New checks the configuration and prepares a master; nothing is bound or
// started until Run. obs may be nil (headless: events are logged).
func New(cfg Config, obs Observer) (*Master, error) {
	a, err := resolveApp(cfg.App)
	if err != nil {
		return nil, err
	}
	id, err := resolveIdentity(cfg.User, cfg.Group)
	if err != nil {
		return nil, err
	}
	if err := checkTLS(&cfg); err != nil {
		return nil, err
	}
	m := &Master{
		id:      id,
		cfg:     cfg,
		obs:     obs,
		app:     a,
		exitc:   make(chan exitMsg, 64),
		readyc:  make(chan *proc, 64),
		drainc:  make(chan *proc, 64),
		cmdc:    make(chan Command, 16),
		buildc:  make(chan buildResult, 1),
		sigc:    make(chan os.Signal, 16),
		changec: make(chan []string, 1),
		notec:   make(chan string, 4),
		procs:   make(map[int]*proc),
		target:  cfg.Workers,
		done:    make(chan struct{}),
		errw:    fileSink(os.Stderr),
		outw:    fileSink(os.Stdout),
	}
	m.startProc = m.startWorker
	m.stopProc = func(p *proc) { syscall.Kill(p.pid, syscall.SIGTERM) }
	return m, nil
}

// Done is closed when Run has finished.
func (m *Master) Done() <-chan struct{} { return m.done }

// Do asks the master to do something; it never blocks for long.
func (m *Master) Do(c Command) {
	select {
	case m.cmdc <- c:
	case <-m.done:
	}
}

// Run is Start then Serve.
func (m *Master) Run() (int, error) {
	if code, err := m.Start(); err != nil {
		return code, err
	}
	return m.Serve()
}

// Start builds the app if needed, binds the listeners and prepares the
// pool. On failure everything is released, Done is closed, and the exit
// status is returned with the error.
func (m *Master) Start() (int, error) {
	code, err := m.setup()
	if err != nil {
		m.cleanup()
		m.flushLogs()
		close(m.done)
		return code, err
	}
	m.flushLogs() // the start's lines before anything else (a dashboard)
	m.live = true
	return 0, nil
}

// Serve starts the workers and supervises them until a stop. It returns
// the process exit status and, for a failure, the error.
func (m *Master) Serve() (int, error) {
	defer close(m.done)
	m.loop()
	// The last lines are in the log before the pid file and the sockets
	// go (which tell that the server has stopped), and after what the
	// cleanup logs.
	m.flushLogs()
	m.cleanup()
	m.flushLogs()
	if m.exitCode != 0 && m.lastErr != "" {
		return m.exitCode, errors.New(m.lastErr)
	}
	return m.exitCode, nil
}

func (m *Master) setup() (int, error) {
	m.started = time.Now()
	// Signals are the master's from the start: a stop during the first
	// build must cancel it and clean up, and TTIN must not stop the
	// process (the default action of an untrapped SIGTTIN).
	m.trapSignals()
	// Workers and builds are started from one thread that never exits,
	// so that their parent-death signal means the master's death.
	m.spawner = newSpawner()
	if m.cfg.Umask >= 0 {
		syscall.Umask(m.cfg.Umask)
	}
	if m.cfg.ErrorLog != "" {
		s, err := openSink(m.cfg.ErrorLog)
		if err != nil {
			return ExitUsage, fmt.Errorf("--error-log: %w", err)
		}
		m.errw = s
		if IsDaemon() {
			// Runtime crashes of the master land in the log too.
			syscall.Dup2(int(s.f.Fd()), 2)
			m.outw = s
		}
	}
	if m.cfg.AccessLog == "-" {
		m.accessw = m.outw
	} else if m.cfg.AccessLog != "" {
		s, err := openSink(m.cfg.AccessLog)
		if err != nil {
			return ExitUsage, fmt.Errorf("--access-log: %w", err)
		}
		m.accessw = s
	}
	// From here on a log that does not keep up never blocks the master.
	for _, s := range []*sink{m.errw, m.outw, m.accessw} {
		s.background()
	}
	for _, n := range m.cfg.Notes {
		m.info("%s", n)
	}
	m.lastGen, m.gen = 1, 1
	m.binary = m.app.binary
	if m.app.dir != "" || m.cfg.Workers > 0 {
		// A source directory's builds go there; an executable's
		// generations are pinned there (see pin.go).
		if n := sweepBuildDirs(); n > 0 {
			m.info("removed build directories that killed masters left in %s: %d", os.TempDir(), n)
		}
		dir, lock, err := makeBuildDir()
		if err != nil {
			return ExitFailure, buildDirError(err)
		}
		m.buildDir, m.buildLock = dir, lock
	}
	if m.app.dir != "" {
		m.binary = filepath.Join(m.buildDir, "app-1")
		if code, err := m.firstBuild(); err != nil {
			return code, err
		}
	}
	if m.buildDir != "" {
		if err := m.id.chown(m.buildDir); err != nil {
			return ExitFailure, buildDirError(err)
		}
		if m.app.dir != "" {
			m.id.chown(m.binary) // the build, never the user's own executable
		}
	}
	ls, err := systemdListeners(m.cfg.SSL)
	if err == nil && ls == nil {
		ls, err = bind(&m.cfg)
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
		return ExitFailure, err
	}
	m.listeners = ls
	for _, p := range staleRemoved {
		m.info("removed stale socket %s", p)
	}
	if m.cfg.PidFile != "" {
		if m.pidLock, err = writePidFile(m.cfg.PidFile, os.Getpid()); err != nil {
			return ExitFailure, err
		}
		if stalePidReplaced != "" {
			m.info("%s", stalePidReplaced)
		}
		m.pidFile = true
	}
	// Log files stay writable, and reopenable on SIGUSR1, after the switch;
	// unix sockets go to the user too, as gunicorn's do, so that a proxy
	// running as that user (or group) can connect.
	for _, f := range []string{m.cfg.ErrorLog, m.cfg.AccessLog} {
		if f != "" && f != "-" {
			m.id.chown(f)
		}
	}
	for _, l := range m.listeners {
		if l.path != "" {
			m.id.lchown(l.path)
		}
	}
	if m.id != nil && m.cfg.SSL {
		// The key is often readable by root alone: read it now, and
		// hand it to every worker (see tlsPEMFile).
		if m.tlsPEM, err = readTLSPEM(&m.cfg); err != nil {
			return ExitFailure, err
		}
	}
	if err := m.id.drop(); err != nil {
		return ExitFailure, err
	}
	if m.app.dir == "" && m.cfg.Workers > 0 {
		// As the user the workers run as: what it cannot run fails now,
		// not at the first reload.
		m.binary = m.pin(m.app.binary, 1)
	}
	if m.cfg.Workers == 0 {
		return m.execInPlace()
	}
	// The master's work is small and rarely urgent (reaping, a snapshot a
	// few times a second, a dashboard); the CPUs are the workers'. One P
	// also keeps the garbage collector's idle-time marking, which would
	// take every idle CPU during a collection, off the workers' cores.
	runtime.GOMAXPROCS(1)
	slots := 2*MaxWorkers + 16
	if m.board, err = scoreboard.Create(slots); err != nil {
		return ExitFailure, err
	}
	for i := slots - 1; i >= 0; i-- {
		m.freeSlots = append(m.freeSlots, i)
	}
	if m.deathR, m.deathW, err = os.Pipe(); err != nil {
		return ExitFailure, fmt.Errorf("pipe: %w", err)
	}
	if m.watching() {
		if err := m.startWatcher(); err != nil {
			return ExitFailure, err
		}
	}
	var urls []string
	for _, l := range m.listeners {
		urls = append(urls, l.url)
	}
	m.emit(Event{Kind: EventStarted, Generation: m.gen,
		Message: fmt.Sprintf("starlight %s serving %s with %s (pid %d)", m.app.name, strings.Join(urls, " "), plural(m.target, "worker"), os.Getpid())})
	m.publish()
	return 0, nil
}

// firstBuild builds the app before anything is bound. SIGTERM, SIGINT
// or SIGQUIT cancels the build and ends the start; other signals wait for
// the loop, which handles them once the master serves.
func (m *Master) firstBuild() (int, error) {
	m.info("building %s", m.app.name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- buildApp(ctx, m.app, m.binary, m.spawner.start) }()
	var held []os.Signal
	defer func() {
		for _, s := range held {
			select {
			case m.sigc <- s:
			default: // full: signals that arrived meanwhile come first
			}
		}
	}()
	var stopped string
	for {
		select {
		case s := <-m.sigc:
			switch {
			case !isStop(s):
				held = append(held, s)
			case stopped == "":
				stopped = signalName(s.(syscall.Signal))
				m.emit(Event{Kind: EventStopping, Signal: stopped, Message: "received " + stopped + " during the build: stopping"})
				cancel()
			}
		case err := <-done:
			if err != nil && stopped == "" {
				// A Ctrl+C in the terminal reaches go build and the
				// master at once: a build killed by SIGINT waits for
				// the master's copy.
				var wait time.Duration
				if killedByInterrupt(err) {
					wait = time.Second
				}
				stopped = m.stopSignal(wait, &held)
			}
			switch {
			case stopped != "":
				return ExitOK, &StoppedError{Signal: stopped}
			case err != nil:
				return ExitFailure, err
			}
			return 0, nil
		}
	}
}

// killedByInterrupt tells a build that SIGINT ended.
func killedByInterrupt(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && (ws.Signaled() && ws.Signal() == syscall.SIGINT || ws.ExitStatus() == 128+int(syscall.SIGINT))
}

// stopSignal waits up to d for SIGTERM, SIGINT or SIGQUIT and returns
// its name, or ""; other signals are added to held.
func (m *Master) stopSignal(d time.Duration, held *[]os.Signal) string {
	timeout := time.After(d)
	for {
		var s os.Signal
		select {
		case s = <-m.sigc: // those already there first
		default:
			select {
			case s = <-m.sigc:
			case <-timeout:
				return ""
			}
		}
		if isStop(s) {
			return signalName(s.(syscall.Signal))
		}
		*held = append(*held, s)
	}
}

func isStop(s os.Signal) bool {
	return s == syscall.SIGTERM || s == syscall.SIGINT || s == syscall.SIGQUIT
}

// StoppedError is a stop asked for before the master served: the exit
// status is 0, and the message says why nothing was served.
type StoppedError struct{ Signal string }

func (e *StoppedError) Error() string {
	return "stopped by " + e.Signal + " before serving"
}

// cleanup releases what setup acquired; workers are gone by now.
func (m *Master) cleanup() {
	if m.watcher != nil {
		m.watcher.Close()
	}
	closeListeners(m.listeners)
	if m.pidFile {
		removePidFile(m.cfg.PidFile, os.Getpid())
		m.pidLock.Close()
	}
	if m.deathW != nil {
		m.deathW.Close()
		m.deathR.Close()
	}
	if m.board != nil {
		m.board.Close()
	}
	if m.buildDir != "" {
		os.RemoveAll(m.buildDir)
		if m.buildLock != nil {
			m.buildLock.Close()
		}
	}
	m.stopSignals()
}

// loop is the one goroutine that owns the pool.
func (m *Master) loop() {
	delay := m.cfg.MainProcessDelay
	if delay <= 0 || delay > time.Second {
		delay = DefaultMainProcessDelay
	}
	tick := time.NewTicker(delay)
	defer tick.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		next := m.reconcile(time.Now())
		m.publish()
		if m.stopping > 0 && len(m.procs) == 0 {
			return
		}
		if !next.IsZero() {
			wake.Reset(time.Until(next))
		}
		select {
		case e := <-m.exitc:
			m.reaped(e)
		case p := <-m.readyc:
			m.readied(p)
		case p := <-m.drainc:
			if m.procs[p.pid] == p {
				p.draining = true
			}
		case s := <-m.sigc:
			m.signal(s)
		case c := <-m.cmdc:
			m.command(c)
		case b := <-m.buildc:
			m.built(b)
		case paths := <-m.changec:
			m.changed(paths)
		case note := <-m.notec:
			m.emit(Event{Kind: EventError, Message: note})
		case <-wake.C:
		case <-tick.C:
			m.housekeeping(time.Now())
		}
	}
}

// reconcile starts and retires workers towards the wanted pool and
// returns when it next wants to run (zero: only on an event).
func (m *Master) reconcile(now time.Time) time.Time {
	if m.stopping > 0 || m.halted != "" {
		return time.Time{}
	}
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
	for n := len(alive); n < m.target; n++ {
		if m.crashStreak > 1 && starting > 0 {
			break // after crashes, one worker at a time until one is ready
		}
		if len(m.procs) >= 2*m.target {
			break // as many still finishing as serving: wait for exits
		}
		if later, ok := m.spawnNow(now); !ok {
			return later
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
		m.retire(p, "scaled down")
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
		m.retire(p, "replaced by generation "+strconv.Itoa(r.gen))
		m.lastRetire = now
		old = removeProc(old, p)
	}
	if (len(fresh) < m.target || m.lanesUnfilled(r.gen)) && freshStarting == 0 {
		if wait := m.spawnWait(now); !wait.IsZero() {
			return wait
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
		m.emit(Event{Kind: EventError, Message: err.Error()})
		m.startFailed(now, "could not be started", err.Error(), false)
		if m.halted != "" || m.stopping > 0 {
			return time.Time{}, false
		}
		return m.backoffTill, false
	}
	return time.Time{}, true
}

// spawnWait returns when the next spawn may happen, or zero for now.
func (m *Master) spawnWait(now time.Time) time.Time {
	if now.Before(m.backoffTill) {
		return m.backoffTill
	}
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
		if m.board.Slot(p.slot).Active.Load() == 0 {
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

// retire asks a worker to finish its requests and exit.
func (m *Master) retire(p *proc, why string) {
	p.retiring = why
	m.stopProc(p)
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

func (m *Master) noteCrash(now time.Time) {
	m.crashStreak++
	m.lastCrash = now
	if m.crashStreak > 1 {
		d := 100 * time.Millisecond << min(m.crashStreak-2, 10)
		if d > maxBackoff {
			d = maxBackoff
		}
		m.backoffTill = now.Add(d)
		m.emit(Event{Kind: EventBackoff, Message: fmt.Sprintf("%d crashes in a row: next worker in %s", m.crashStreak, d.Round(time.Millisecond))})
	}
}

// housekeeping runs every main-process-delay: deadlines and streaks.
func (m *Master) housekeeping(now time.Time) {
	if m.crashStreak > 0 && now.Sub(m.lastCrash) > crashQuiet {
		m.crashStreak = 0
	}
	if m.stopping == 1 && now.After(m.stopBy) {
		m.emit(Event{Kind: EventStopping, Message: fmt.Sprintf("graceful stop took over %s: killing %s", m.cfg.GracefulTimeout, plural(len(m.procs), "worker"))})
		m.forceStop()
	}
	for _, p := range m.procs {
		if !p.ready && p.retiring == "" && now.Sub(p.started) > readyTimeout {
			p.retiring = "not ready after " + readyTimeout.String()
			syscall.Kill(p.pid, syscall.SIGKILL)
		}
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
	m.halted = "" // it can start after all
	if m.roll != nil && p.gen == m.roll.gen {
		m.roll.fails = 0
	}
	m.emit(Event{Kind: EventReady, PID: p.pid, Slot: p.slot, Generation: p.gen,
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
			sdNotify(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving with %s", os.Getpid(), plural(ready, "worker")))
			m.flushLogs() // the lines so far are in the log when -D returns
			daemonReport(nil)
		}
	}
}

// reaped handles a worker's exit.
func (m *Master) reaped(e exitMsg) {
	p := e.p
	now := time.Now()
	if m.procs[p.pid] == p {
		delete(m.procs, p.pid)
	}
	slot := m.board.Slot(p.slot)
	reqs := slot.Requests.Load()
	reason := slot.ExitReason.Load()
	// Requests begun and never ended (the worker was killed), or cut when
	// its grace period ran out.
	inFlight := max(slot.Active.Load(), slot.Cut.Load())
	if cut := uint64(slot.Cut.Load()); cut > 0 && reqs >= cut {
		reqs -= cut // the cut requests' handlers ended after the cut: not served
	}
	wasReady := p.ready || slot.State.Load() != scoreboard.Starting
	slot.State.Store(scoreboard.Free)
	slot.PID.Store(0)
	m.freeSlots = append(m.freeSlots, p.slot)
	m.mu.Lock()
	m.view.retired += reqs
	m.mu.Unlock()
	m.removeStaleBinary()

	ws, _ := e.state.Sys().(syscall.WaitStatus)
	code := e.state.ExitCode()
	ev := Event{PID: p.pid, Slot: p.slot, Generation: p.gen, Requests: reqs, ExitCode: code}
	how := "exit status " + strconv.Itoa(code)
	if ws.Signaled() {
		ev.Signal = signalName(ws.Signal())
		how = "killed by " + ev.Signal
	}
	served := plural(int(reqs), "request")
	// Serve returned nil (after a drain for a reason of its own: budget,
	// harakiri, a signal): a non-zero status after that is the app's main
	// (log.Fatal(httpserver.Serve(h)) exits 1 on nil), not a crash.
	clean := code == 0 || (slot.Returned.Load() == 1 && !ws.Signaled())
	after := ""
	if clean && code != 0 {
		after = fmt.Sprintf(", then %s (the app's main exited non-zero after Serve returned nil)", how)
	}
	crashed := false
	switch {
	case p.retiring != "" && (clean || ws.Signal() == syscall.SIGTERM || strings.HasPrefix(p.retiring, "stop")):
		ev.Kind = EventExited
		ev.Message = fmt.Sprintf("worker %d exited (%s) after %s", p.pid, p.retiring, served)
		if after != "" {
			ev.Message += after
		} else if code != 0 {
			ev.Message += ", " + how
		}
	case p.retiring != "":
		crashed = true
		ev.Kind = EventCrashed
		ev.Message = fmt.Sprintf("worker %d %s (%s) after %s", p.pid, how, p.retiring, served)
	case clean && reason == scoreboard.ExitBudget:
		ev.Kind = EventRecycled
		ev.Message = fmt.Sprintf("worker %d recycled after %s%s", p.pid, served, after)
	case clean && reason == scoreboard.ExitHarakiri:
		ev.Kind = EventHarakiri
		ev.Message = fmt.Sprintf("worker %d exited by harakiri after %s%s", p.pid, served, after)
	case clean && reason == scoreboard.ExitSignal:
		ev.Kind = EventExited
		ev.Message = fmt.Sprintf("worker %d exited on a signal from outside after %s%s", p.pid, served, after)
	default:
		crashed = true
		ev.Kind = EventCrashed
		if !wasReady {
			ev.Message = fmt.Sprintf("worker %d exited before it was ready: %s", p.pid, how)
		} else if code == 0 {
			ev.Message = fmt.Sprintf("worker %d exited unexpectedly (exit status 0, the app returned without Serve's asking) after %s", p.pid, served)
		} else {
			ev.Message = fmt.Sprintf("worker %d crashed: %s after %s", p.pid, how, served)
		}
	}
	if inFlight > 0 {
		ev.Message += fmt.Sprintf("; %s in flight cut", plural(int(inFlight), "request"))
	}
	if ev.Kind == EventRecycled || ev.Kind == EventHarakiri {
		m.mu.Lock()
		m.view.recycles++
		m.mu.Unlock()
	}
	if crashed {
		m.mu.Lock()
		m.view.crashes++
		m.mu.Unlock()
	}
	m.emit(ev)
	if !crashed || m.stopping > 0 {
		return
	}
	if wasReady {
		m.noteCrash(now)
		return
	}
	if r := m.roll; r != nil && p.gen == r.gen {
		r.fails++
		if r.fails >= rolloutFailLimit {
			m.rollback(fmt.Sprintf("%d workers of generation %d exited before they were ready (last: %s)", r.fails, r.gen, how))
			return
		}
		m.noteCrash(now)
		return
	}
	if m.roll != nil {
		// An old generation's worker, started before the rollout: the
		// new generation decides now whether the app can start.
		m.noteCrash(now)
		return
	}
	last := how
	said := p.words.said()
	switch {
	case said != "":
		last += fmt.Sprintf(", after writing %q", said)
	case code == 0 && !ws.Signaled():
		last += " without a word: does its main call httpserver.Serve?"
	}
	m.startFailed(now, "exited before they were ready", last, said != "")
}

// startFailed counts a worker of the current generation that never got
// ready (what: how they failed, last: how the last one did, said: whether
// it wrote anything, which the message then says where to find). Before any
// worker was ever ready, startFailLimit of them in a row mean the app
// cannot start: the master waits for a change when it watches the app,
// else stops and exits 1. Otherwise the next start backs off.
func (m *Master) startFailed(now time.Time, what, last string, said bool) {
	m.startFails++
	if m.everReady || m.startFails < startFailLimit {
		m.noteCrash(now)
		return
	}
	msg := fmt.Sprintf("the app cannot start: %d workers in a row %s (last: %s)", m.startFails, what, last)
	if where := m.outputWhere(); where != "" && said {
		msg += "; " + where
	}
	if m.watching() {
		m.halted = msg
		m.emit(Event{Kind: EventError, Message: msg + "; waiting for a change"})
		return
	}
	m.lastErr = msg
	m.exitCode = ExitFailure
	m.emit(Event{Kind: EventError, Message: msg})
	m.stop(false, "the app cannot start")
}

// outputWhere says where the workers' output went, for a message about a
// failure: "" when it was shown nowhere a user will look.
func (m *Master) outputWhere() string {
	switch {
	case m.cfg.ErrorLog != "":
		return "its output is in " + m.cfg.ErrorLog
	case IsDaemon():
		return "its output was discarded (-D without --error-log)"
	case m.cfg.Dashboard:
		return ""
	}
	return "its output is above"
}

// spawn starts one worker of generation gen running binary.
func (m *Master) spawn(gen int, binary string) error {
	if len(m.freeSlots) == 0 {
		return errors.New("spawn: the scoreboard is full")
	}
	slotIdx := m.freeSlots[len(m.freeSlots)-1]
	now := time.Now()
	w, err := m.startProc(gen, binary, slotIdx, m.nextLanes(gen), now)
	if err != nil {
		return err
	}
	m.freeSlots = m.freeSlots[:len(m.freeSlots)-1]
	m.procs[w.pid] = w
	m.lastSpawn = time.Now() // after the fork: a slow one does not shorten the interval
	m.emit(Event{Kind: EventSpawned, PID: w.pid, Slot: slotIdx, Generation: gen,
		Message: fmt.Sprintf("worker %d spawned (generation %d, slot %d)", w.pid, gen, slotIdx)})
	return nil
}

// stop begins a stop: graceful lets requests finish, immediate kills.
func (m *Master) stop(immediate bool, why string) {
	if m.stopping == 2 || (m.stopping == 1 && !immediate) {
		return
	}
	if m.building != nil {
		m.building()
		m.building = nil
	}
	m.roll = nil
	sdNotify("STOPPING=1")
	if !m.announced && m.lastErr != "" {
		daemonReport(errors.New(m.lastErr))
	}
	if immediate {
		m.emit(Event{Kind: EventStopping, Message: fmt.Sprintf("stopping now (%s): killing %s", why, plural(len(m.procs), "worker"))})
		m.forceStop()
		return
	}
	m.stopping = 1
	m.stopBy = time.Now().Add(m.cfg.GracefulTimeout)
	// Nothing will accept again: let the sockets close as soon as the
	// workers let go of them, so that new clients are refused at once
	// rather than queued until the master exits.
	closeListeners(m.listeners)
	finish := plural(len(m.procs), "worker") + " finish their requests"
	if len(m.procs) == 1 {
		finish = "1 worker finishes its requests"
	}
	m.emit(Event{Kind: EventStopping, Message: fmt.Sprintf("stopping gracefully (%s): %s", why, finish)})
	for _, p := range m.procs {
		m.retire(p, "stop")
	}
}

func (m *Master) forceStop() {
	m.stopping = 2
	for _, p := range m.procs {
		if p.retiring == "" {
			p.retiring = "stop"
		}
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// emit reports an event to the observer and, headless or with an error
// log, as a log line.
func (m *Master) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if m.obs != nil {
		m.obs.Event(e)
	}
	if e.Kind == EventStarted && m.cfg.Quiet {
		// -q suppresses the startup banner, as in Perl Starlight.
	} else if m.obs == nil || !m.live || m.cfg.ErrorLog != "" {
		line := stamp(e.Time) + " starlight: " + e.Message + "\n"
		if e.Detail != "" {
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
	m.emit(Event{Kind: EventInfo, Message: fmt.Sprintf(format, a...)})
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
	m.view.reloading = m.roll != nil || m.building != nil
	m.view.stopping = m.stopping > 0
	m.view.halted = m.halted != ""
	m.mu.Unlock()
}

// Snapshot returns the state of the pool now.
func (m *Master) Snapshot() Snapshot {
	m.mu.Lock()
	v := m.view
	v.procs = append([]procView(nil), v.procs...)
	m.mu.Unlock()
	s := Snapshot{
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
	}
	for _, l := range m.listeners {
		s.Listeners = append(s.Listeners, l.url)
	}
	for _, p := range v.procs {
		w := WorkerInfo{Slot: p.slot, PID: p.pid, Generation: p.gen, Started: p.started, RSS: rss(p.pid)}
		if m.board != nil {
			sl := m.board.Slot(p.slot)
			w.Requests = sl.Requests.Load()
			w.Budget = sl.Budget.Load()
			w.Active = int(sl.Active.Load())
			switch sl.State.Load() {
			case scoreboard.Starting:
				w.State = StateStarting
			case scoreboard.Exiting:
				w.State = StateExiting
			default:
				w.State = StateIdle
				if w.Active > 0 {
					w.State = StateBusy
				}
			}
			if line, start := sl.InFlight(); start > 0 && w.Active > 0 {
				w.InFlight, w.Since = line, time.Unix(0, start)
			}
		}
		s.Requests += w.Requests
		s.Workers = append(s.Workers, w)
	}
	sortWorkers(s.Workers)
	return s
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

// workerGOMAXPROCS gives each worker its share of the CPUs.
func workerGOMAXPROCS(workers int) int {
	n := runtime.NumCPU()
	if workers <= 0 {
		return n
	}
	return max(1, (n+workers-1)/workers)
}

// plural says n things: "1 worker", "2 workers".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}
