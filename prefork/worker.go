package prefork

import (
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
)

// startWorker starts the app binary as the worker of slot, with the
// listeners, the scoreboard and its pipes as inherited files.
// With --reuse-port, lanes are the TCP sockets it gets (see lanes.go).
func (m *Master) startWorker(gen int, binary string, slotIdx int, lanes []int, now time.Time) (*proc, error) {
	budget := m.budget()
	slot := m.board.Slot(slotIdx)
	slot.Reset(uint32(gen), budget, now.UnixNano())
	slot.Flags.Store(m.slotFlags())
	m.board.Use(slotIdx)

	var parentEnds, childEnds []*os.File
	defer func() {
		for _, f := range childEnds {
			f.Close() // the child has its copies
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			parentEnds = append(parentEnds, r)
			childEnds = append(childEnds, w)
		}
		return
	}
	fail := func(err error) (*proc, error) {
		for _, f := range parentEnds {
			f.Close()
		}
		if errors.Is(err, syscall.ENOENT) {
			if _, serr := os.Stat(binary); serr == nil {
				// The file is there: exec's ENOENT is about what it names
				// to run it, a script's #! line or an ELF's loader.
				err = fmt.Errorf("%w (the file exists: its #! interpreter or its dynamic loader does not)", err)
			}
		}
		return nil, fmt.Errorf("spawn %s: %w", m.appPath(binary), err)
	}
	readyR, readyW, err := pipe()
	if err != nil {
		return fail(err)
	}
	outR, outW, err := pipe()
	if err != nil {
		return fail(err)
	}
	errR, errW, err := pipe()
	if err != nil {
		return fail(err)
	}
	var accR, accW *os.File
	if m.accessw != nil || m.cfg.CaptureOutput {
		if accR, accW, err = pipe(); err != nil {
			return fail(err)
		}
	}

	spec := m.serverSpec()
	spec.Slot, spec.Slots, spec.Generation, spec.Budget = slotIdx, m.board.Len(), gen, budget
	var files []*os.File
	add := func(f *os.File) int {
		files = append(files, f)
		return 2 + len(files)
	}
	for _, l := range m.listeners {
		fs, err := l.laneFiles(lanes)
		if err != nil {
			return fail(err)
		}
		for _, f := range fs {
			childEnds = append(childEnds, f)
			spec.Listeners = append(spec.Listeners, proto.Listener{FD: add(f), Network: l.network, Addr: l.addr, TLS: l.tls, Lane: len(l.lanes) > 0})
		}
	}
	if spec.TLS != nil {
		pem, err := m.tlsPEMFile()
		if err != nil {
			return fail(err)
		}
		if pem != nil {
			spec.TLS.PEMFD = add(pem)
		}
	}
	spec.ScoreboardFD = add(m.board.File())
	spec.DeathFD = add(m.deathR)
	spec.ReadyFD = add(readyW)
	if accW != nil {
		spec.AccessFD = add(accW)
	}

	cmd := exec.Command(binary, m.cfg.AppArgs...)
	cmd.Args[0] = m.appPath(binary) // not /proc/self/fd/N (pin.go)
	cmd.Env = append(m.workerEnv(spec.Encode()), "STARLIGHT_GENERATION="+strconv.Itoa(gen))
	cmd.Stdout = outW
	cmd.Stderr = errW
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
	if err := m.spawner.start(cmd); err != nil {
		return fail(err)
	}
	p := &proc{pid: cmd.Process.Pid, slot: slotIdx, gen: gen, started: now, lanes: lanes}
	m.board.Slot(slotIdx).PID.Store(int32(p.pid))

	dash := m.obs != nil && m.cfg.CaptureOutput
	lineTo := func(stream Stream) func(string) {
		if !dash {
			return nil
		}
		return func(text string) {
			m.obs.Log(LogLine{Time: time.Now(), PID: p.pid, Stream: stream, Text: text})
		}
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
	pumps.Add(2)
	go func() {
		defer pumps.Done()
		pump(outR, outSink, lineTo(StreamStdout), nil)
	}()
	go func() {
		defer pumps.Done()
		pump(errR, errSink, lineTo(StreamStderr), p.words.keep)
	}()
	if accR != nil {
		go pump(accR, m.accessw, lineTo(StreamAccess), nil)
	}
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
	return p, nil
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

func (m *Master) tlsSpec() *proto.TLS {
	if !m.cfg.SSL {
		return nil
	}
	return &proto.TLS{
		CertFile:     m.cfg.SSLCertFile,
		KeyFile:      m.cfg.SSLKeyFile,
		CAFile:       m.cfg.SSLCAFile,
		ClientCAFile: m.cfg.SSLClientCAFile,
		VerifyMode:   m.cfg.SSLVerifyMode,
	}
}

func sortWorkers(ws []WorkerInfo) {
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
		TLS:              m.tlsSpec(),
		AccessFD:         -1,
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
