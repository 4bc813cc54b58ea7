package prefork

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/internal/proto"
	"github.com/starlight-go/starlight/status"
)

// processes is the seam between the pool's decisions and the processes
// they are about: start a worker, send it a signal, read its resident
// size. A started worker is watched (watchWorker) and reports on the
// master's channels: ready (readyc), draining on its own (drainc) and
// exited (exitc). The pool's unit tests (pool_test.go) put a fake in its
// place and play those reports themselves.
type processes interface {
	start(s spawnSpec) (*proc, error)
	signal(p *proc, sig syscall.Signal)
	residentSize(pid int) uint64
}

// spawnSpec is what the pool asks of a new worker: its generation and the
// binary that generation runs, its scoreboard slot and, with
// --reuse-port, its lanes.
type spawnSpec struct {
	gen    int
	binary string
	slot   int
	lanes  []int
	now    time.Time
}

// execWorkers are real worker processes: exec'd, signalled with kill(2),
// measured in /proc.
type execWorkers struct{ m *Master }

func (w execWorkers) start(s spawnSpec) (*proc, error) {
	return w.m.startWorker(s.gen, s.binary, s.slot, s.lanes, s.now)
}
func (execWorkers) signal(p *proc, sig syscall.Signal) { syscall.Kill(p.pid, sig) }
func (execWorkers) residentSize(pid int) uint64        { return rss(pid) }

// startWorker starts the app binary as the worker of slot, with the
// listeners, the scoreboard and its pipes as inherited files.
// With --reuse-port, lanes are the TCP sockets it gets (see lanes.go).
// Its steps: the slot, the pipes, the descriptors and the spec, the
// command, the start, and the goroutines that watch the process.
func (m *Master) startWorker(gen int, binary string, slotIdx int, lanes []int, now time.Time) (*proc, error) {
	budget := m.prepareSlot(slotIdx, gen, now)
	var ps workerPipes
	defer ps.closeChildEnds() // the child has its copies
	fail := func(err error) (*proc, error) {
		ps.closeParentEnds()
		return nil, m.spawnError(binary, err)
	}
	if err := ps.open(m.accessw != nil || m.cfg.CaptureOutput || m.ctl != nil); err != nil {
		return fail(err)
	}
	spec := m.serverSpec()
	spec.Slot, spec.Slots, spec.Generation, spec.Budget = slotIdx, m.board.Len(), gen, budget
	files, err := m.workerFiles(&spec, lanes, &ps)
	if err != nil {
		return fail(err)
	}
	cmd := m.workerCommand(binary, gen, &spec, files, &ps)
	if err := m.spawner.start(cmd); err != nil {
		return fail(err)
	}
	p := &proc{pid: cmd.Process.Pid, slot: slotIdx, gen: gen, started: now, lanes: lanes}
	m.board.Slot(slotIdx).PID.Store(int32(p.pid))
	m.watchWorker(p, cmd, &ps)
	return p, nil
}

// prepareSlot readies a scoreboard slot for a new worker of gen and
// returns the budget drawn for it.
func (m *Master) prepareSlot(slotIdx, gen int, now time.Time) uint64 {
	budget := m.budget()
	slot := m.board.Slot(slotIdx)
	slot.Reset(uint32(gen), budget, now.UnixNano())
	slot.Flags.Store(m.slotFlags())
	m.board.Use(slotIdx)
	return budget
}

// spawnError says why a worker could not be started.
func (m *Master) spawnError(binary string, err error) error {
	if errors.Is(err, syscall.ENOENT) {
		if _, serr := os.Stat(binary); serr == nil {
			// The file is there: exec's ENOENT is about what it names
			// to run it, a script's #! line or an ELF's loader.
			err = fmt.Errorf("%w (the file exists: its #! interpreter or its dynamic loader does not)", err)
		}
	}
	return fmt.Errorf("spawn %s: %w", m.appPath(binary), err)
}

// workerPipes are a worker's pipes: the master reads the r ends, the
// worker writes the w ends. childEnds are the descriptors the worker gets
// copies of, closed in the master once it has started.
type workerPipes struct {
	readyR, readyW *os.File // NoticeReady, NoticeDraining
	outR, outW     *os.File // stdout
	errR, errW     *os.File // stderr
	accR, accW     *os.File // access-log lines; nil when nobody takes them

	parentEnds, childEnds []*os.File
}

func (ps *workerPipes) open(access bool) error {
	pipe := func(r, w **os.File) error {
		var err error
		if *r, *w, err = os.Pipe(); err == nil {
			ps.parentEnds = append(ps.parentEnds, *r)
			ps.childEnds = append(ps.childEnds, *w)
		}
		return err
	}
	if err := pipe(&ps.readyR, &ps.readyW); err != nil {
		return err
	}
	if err := pipe(&ps.outR, &ps.outW); err != nil {
		return err
	}
	if err := pipe(&ps.errR, &ps.errW); err != nil {
		return err
	}
	if access {
		return pipe(&ps.accR, &ps.accW)
	}
	return nil
}

func (ps *workerPipes) closeParentEnds() {
	for _, f := range ps.parentEnds {
		f.Close()
	}
}

func (ps *workerPipes) closeChildEnds() {
	for _, f := range ps.childEnds {
		f.Close()
	}
}

// workerFiles lists the descriptors a worker inherits (3, 4, ...) and
// notes each one's number in spec: the listeners (with --reuse-port, the
// lanes' sockets), the TLS key, the scoreboard, the master's death pipe,
// and the worker's ready and access pipes.
func (m *Master) workerFiles(spec *proto.Spec, lanes []int, ps *workerPipes) ([]*os.File, error) {
	var files []*os.File
	add := func(f *os.File) int {
		files = append(files, f)
		return 2 + len(files)
	}
	for _, l := range m.listeners {
		fs, err := l.laneFiles(lanes)
		if err != nil {
			return nil, err
		}
		for _, f := range fs {
			ps.childEnds = append(ps.childEnds, f)
			spec.Listeners = append(spec.Listeners, proto.Listener{FD: add(f), Network: l.network, Addr: l.addr, TLS: l.tls, Lane: len(l.lanes) > 0})
		}
	}
	if spec.TLS != nil {
		pem, err := m.tlsPEMFile()
		if err != nil {
			return nil, err
		}
		if pem != nil {
			spec.TLS.PEMFD = add(pem)
		}
	}
	spec.ScoreboardFD = add(m.board.File())
	spec.DeathFD = add(m.deathR)
	spec.ReadyFD = add(ps.readyW)
	if ps.accW != nil {
		spec.AccessFD = add(ps.accW)
	}
	return files, nil
}

// workerCommand is the command that starts a worker of gen.
func (m *Master) workerCommand(binary string, gen int, spec *proto.Spec, files []*os.File, ps *workerPipes) *exec.Cmd {
	cmd := exec.Command(binary, m.cfg.AppArgs...)
	cmd.Args[0] = m.appPath(binary) // not /proc/self/fd/N (pin.go)
	cmd.Env = append(m.workerEnv(spec.Encode()), "STARLIGHT_GENERATION="+strconv.Itoa(gen))
	cmd.Stdout = ps.outW
	cmd.Stderr = ps.errW
	cmd.ExtraFiles = files
	if fd, ok := m.pins[binary]; ok && fd < 2*(3+len(files)) {
		// The spawn would move the worker's files over the pinned
		// descriptor (pin.go) before the exec: run the path instead.
		cmd.Path = m.app.binary
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:   true,            // terminal signals go to the master alone
		Pdeathsig: syscall.SIGKILL, // the master's death kills the worker
	}
	return cmd
}

// watchWorker starts the goroutines that read a started worker's pipes
// and wait for its exit, and report to the loop: ready, draining, exited.
func (m *Master) watchWorker(p *proc, cmd *exec.Cmd, ps *workerPipes) {
	dash := m.obs != nil && m.cfg.CaptureOutput
	lineTo := func(stream status.Stream) func(string) {
		switch {
		case dash && m.ctl != nil:
			return func(text string) {
				l := status.LogLine{Time: time.Now(), PID: p.pid, Stream: stream, Text: text}
				m.obs.Log(l)
				m.ctl.Log(l)
			}
		case dash:
			return func(text string) {
				m.obs.Log(status.LogLine{Time: time.Now(), PID: p.pid, Stream: stream, Text: text})
			}
		case m.ctl != nil:
			return func(text string) {
				m.ctl.Log(status.LogLine{Time: time.Now(), PID: p.pid, Stream: stream, Text: text})
			}
		}
		return nil
	}
	outSink, errSink := m.outw, m.errw
	if dash {
		outSink, errSink = nil, nil
		if m.cfg.ErrorLog != "" {
			outSink, errSink = m.errw, m.errw
		}
	}
	// The exit is reported once the worker's output has been read (or
	// a moment after, if a process it started holds its pipes open), so
	// that its last words come before the news of its end.
	var pumps sync.WaitGroup
	pumps.Go(func() { pump(ps.outR, outSink, lineTo(status.StreamStdout), nil) })
	pumps.Go(func() { pump(ps.errR, errSink, lineTo(status.StreamStderr), m.stderrTap(p)) })
	if ps.accR != nil {
		go pump(ps.accR, m.accessw, lineTo(status.StreamAccess), nil)
	}
	readyR := ps.readyR
	go func() {
		// The worker writes proto.NoticeReady once it serves, and
		// proto.NoticeDraining when it starts draining on its own.
		defer readyR.Close()
		var b [1]byte
		for {
			if n, _ := readyR.Read(b[:]); n != 1 {
				return
			}
			switch b[0] {
			case proto.NoticeReady:
				m.readyc <- p
			case proto.NoticeDraining:
				m.drainc <- p
				return
			}
		}
	}()
	go func() {
		// Wait for the exit without reaping: until the exit is
		// reported, the pid stays the worker's (a zombie) and a signal
		// the master sends it meanwhile cannot reach another process.
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, p.pid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
		read := make(chan struct{})
		go func() {
			pumps.Wait()
			close(read)
		}()
		select {
		case <-read:
		case <-time.After(outputGrace):
		}
		cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		m.exitc <- exitMsg{p: p, status: ws}
	}()
}

// outputGrace bounds how long a worker's exit waits for the end of its
// output: a process it started may hold its pipes open.
const outputGrace = time.Second

// workerEnv is the master's environment for a worker, with its spec.
func (m *Master) workerEnv(spec string) []string {
	env := make([]string, 0, len(os.Environ())+3)
	hasProcs := false
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, proto.EnvSpec+"=") || strings.HasPrefix(kv, proto.EnvEnv+"=") || strings.HasPrefix(kv, "STARLIGHT_GENERATION=") {
			continue
		}
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			hasProcs = true
		}
		env = append(env, kv)
	}
	env = append(env, proto.EnvSpec+"="+spec, proto.EnvEnv+"="+m.cfg.Env)
	if !hasProcs {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(workerGOMAXPROCS(m.target)))
	}
	return env
}

func (m *Master) tlsSpec() *proto.TLS { return tlsSpecOf(&m.cfg) }

// tlsSpecOf is what workers get of the TLS options; nil without --ssl.
func tlsSpecOf(c *Config) *proto.TLS {
	if !c.SSL {
		return nil
	}
	return &proto.TLS{
		CertFile:     c.SSLCertFile,
		KeyFile:      c.SSLKeyFile,
		CAFile:       c.SSLCAFile,
		ClientCAFile: c.SSLClientCAFile,
		VerifyMode:   c.SSLVerifyMode,
	}
}

func sortWorkers(ws []status.WorkerInfo) {
	sort.Slice(ws, func(i, j int) bool {
		if ws[i].Generation != ws[j].Generation {
			return ws[i].Generation < ws[j].Generation
		}
		return ws[i].Slot < ws[j].Slot
	})
}

// serverSpec is what every process serving the app gets from the master:
// its pid and the HTTP settings; no access log until one is added.
func (m *Master) serverSpec() proto.Spec {
	return proto.Spec{
		MasterPID:        os.Getpid(),
		Timeout:          m.cfg.Timeout,
		KeepaliveTimeout: m.cfg.KeepaliveTimeout,
		MaxKeepaliveReqs: m.cfg.MaxKeepaliveReqs,
		GracefulTimeout:  m.cfg.GracefulTimeout,
		RequestTimeout:   m.cfg.RequestTimeout,
		LogSlow:          m.cfg.LogSlow,
		TLS:              m.tlsSpec(),

		LimitRequestLine:      m.cfg.LimitRequestLine,
		LimitRequestFields:    cmp.Or(m.cfg.LimitRequestFields, proto.MaxLimitRequestFields),
		LimitRequestFieldSize: m.cfg.LimitRequestFieldSize,
		AccessFD:              -1,

		NoHTTP2:                m.cfg.NoHTTP2,
		H2C:                    m.cfg.H2C,
		ForwardedAllowIPs:      m.cfg.ForwardedAllowIPs,
		ForwardedSetRemoteAddr: m.cfg.ForwardedSetRemoteAddr,
		ProxyProtocol:          m.cfg.ProxyProtocol,
	}
}

// workerGOMAXPROCS gives each worker its share of the CPUs.
func workerGOMAXPROCS(workers int) int {
	n := runtime.NumCPU()
	if workers <= 0 {
		return n
	}
	return max(1, (n+workers-1)/workers)
}
