package prefork

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
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

// Master supervises the worker pool. Create it with New, then call Start
// and Serve.
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
	ctl         *controlServer  // the control socket (control.go); nil = none
	metrics     *metricsServer  // --metrics-listen (metrics.go); nil = none
	said        *[]status.Event // while a control command runs: what it reported

	// Channels into the loop.
	exitc   chan exitMsg
	readyc  chan *proc
	drainc  chan *proc
	cmdc    chan status.Command
	ctlc    chan controlRequest
	buildc  chan buildResult
	sigc    chan os.Signal
	changec chan []string
	notec   chan error // errors from helpers, to report

	watcher *watcher.Watcher

	// workers starts, signals and measures worker processes (real ones:
	// execWorkers; the pool's unit tests use a fake).
	workers processes

	// Owned by the loop goroutine.
	procs      map[int]*proc // by pid
	freeSlots  []int
	gen        int    // generation new workers of the current build get
	binary     string // executable of that generation
	lastGen    int    // highest generation number handed out
	target     int
	roll       *rollout
	building   context.CancelFunc
	lastSpawn  time.Time
	lastRetire time.Time
	crash      crashState
	startFails int  // workers in a row that exited before ready
	everReady  bool // some worker of this master was ready once
	// halted: the app cannot start, and the master waits for a change
	// (haltReason says why) instead of spawning workers that would crash.
	halted     bool
	haltReason string
	stopping   stopMode
	stopBy     time.Time
	// The watchdog's clock (watchdog.go): the last round, and when the
	// master last resumed after a pause of its own.
	lastWatch, watchFrom time.Time
	lastMemCheck         time.Time
	failure              error // what stopped the master, for its exit
	announced            bool  // told systemd / the daemon launcher that we serve
	live                 bool  // Start is done: the observer shows what happens
	id                   *identity
	tlsPEM               []byte   // certificate and key read before switching user, or nil
	tlsMemfd             *os.File // tlsPEM as workers get it (see tlsPEMFile)
	undo                 []func() // what setup acquired, to release (setup.go)
	notes                []string // what the start found to say, logged once it cannot fail with one line (setupNotes)
	pidFile              bool     // we wrote cfg.PidFile
	pidLock              *os.File // cfg.PidFile, open and locked while we run

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
	seq        uint64 // changes as a worker's requests move to retired
	recycles   int
	crashes    int
	reloads    int
	reloading  bool
	stopping   bool
	halted     bool
	haltReason string

	// What the exited workers' requests came to.
	retiredHTTP status.HTTPStats
	// The reload under way: the generation built or rolled out, since
	// when, and whether it is still being built.
	reloadGen   int
	reloadSince time.Time
	building    bool
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
	retire   retireReason // why the master asked it to exit; notRetired if it did not
	why      string       // retire's wording, for the log
	draining bool         // it said it drains on its own (budget, harakiri)
	leftAt   time.Time    // when it stopped counting towards the pool
	killed   killReason   // why the master sent it SIGKILL, if it did
	// A frozen worker: how long its heartbeat had stopped, and when it
	// is killed unless its stack dump ended it first.
	frozenFor time.Duration
	killAt    time.Time
	lanes     []int // --reuse-port: the sockets it accepts on (see lanes.go)
	words     lastWords
}

// serving reports whether p counts towards the pool: neither asked to exit
// nor draining on its own. A draining worker has closed its listeners and
// only finishes its requests, so its replacement starts at once.
func (p *proc) serving() bool { return p.retire == notRetired && !p.draining }

type exitMsg struct {
	p      *proc
	status syscall.WaitStatus
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
// started until Start. obs may be nil (headless: events are logged).
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
		cmdc:    make(chan status.Command, 16),
		ctlc:    make(chan controlRequest),
		buildc:  make(chan buildResult, 1),
		sigc:    make(chan os.Signal, 16),
		changec: make(chan []string, 1),
		notec:   make(chan error, 4),
		procs:   make(map[int]*proc),
		target:  cfg.Workers,
		done:    make(chan struct{}),
		errw:    fileSink(os.Stderr),
		outw:    fileSink(os.Stdout),
	}
	m.workers = execWorkers{m}
	return m, nil
}

// Done is closed when Serve has returned (or Start has failed).
func (m *Master) Done() <-chan struct{} { return m.done }

// Do asks the master to do something; it never blocks for long.
func (m *Master) Do(c status.Command) {
	select {
	case m.cmdc <- c:
	case <-m.done:
	}
}

// Start builds the app if needed, binds the listeners and prepares the
// pool. On failure everything is released and Done is closed. The error
// is an *OptionError for an option whose value is of no use (the command
// exits 2), a *StoppedError for a stop asked for during the first build
// (exit 0), or another error (exit 1).
func (m *Master) Start() error {
	if err := m.setup(); err != nil {
		m.cleanup()
		m.flushLogs()
		close(m.done)
		return err
	}
	m.flushLogs() // the start's lines before anything else (a dashboard)
	m.live = true
	return nil
}

// Serve starts the workers and supervises them until a stop. It returns
// nil after a stop asked for, or what stopped it (the app cannot start).
func (m *Master) Serve() error {
	defer close(m.done)
	m.loop()
	// The last lines are in the log before the pid file and the sockets
	// go (which tell that the server has stopped), and after what the
	// cleanup logs.
	m.flushLogs()
	m.cleanup()
	m.flushLogs()
	return m.failure
}

// loop is the one goroutine that owns the pool.
func (m *Master) loop() {
	delay := m.cfg.MainProcessDelay
	if delay <= 0 || delay > time.Second {
		delay = defaultMainProcessDelay
	}
	tick := time.NewTicker(delay)
	defer tick.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		next := m.reconcile(time.Now())
		m.publish()
		if m.stopping != running && len(m.procs) == 0 {
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
				m.left(p, time.Now())
			}
		case s := <-m.sigc:
			m.signal(s)
		case c := <-m.cmdc:
			m.command(c)
		case r := <-m.ctlc:
			r.reply <- m.controlCommand(r.cmd)
		case b := <-m.buildc:
			m.built(b)
		case paths := <-m.changec:
			m.changed(paths)
		case err := <-m.notec:
			m.emit(status.Event{Kind: status.EventError, Message: err.Error()})
		case <-wake.C:
		case <-tick.C:
			m.housekeeping(time.Now())
		}
	}
}
