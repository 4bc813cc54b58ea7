package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var reSleeping = regexp.MustCompile(`^testapp: worker \d+ sleeping 2000 ms$`)

type result struct {
	code int
	body string
	err  error
	took time.Duration
}

// slowRequest starts GET /sleep?ms=2000 and returns once a worker is
// running it; the result arrives on the channel.
func slowRequest(t *testing.T, s *server) <-chan result {
	t.Helper()
	c := make(chan result, 1)
	go func() {
		t0 := time.Now()
		code, body, err := s.get(s.client, "/sleep?ms=2000")
		c <- result{code, body, err, time.Since(t0)}
	}()
	s.waitLog(t, 5*time.Second, reSleeping)
	return c
}

func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// SIGTERM lets a request in flight finish, then the master exits 0 with no
// worker left, and the port refuses connections.
func TestGracefulStopFinishesInFlightRequest(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2"}, ready: 2})
	resc := slowRequest(t, s)
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: stopping gracefully \(SIGTERM\)`))
	eventually(t, 10*time.Second, "a new connection refused after SIGTERM", func() bool { return refused(s.addr) })
	var r result
	select {
	case r = <-resc:
	case <-time.After(requestTimeout):
		t.Fatal("the request in flight never finished")
	}
	if r.err != nil || r.code != http.StatusOK || !regexp.MustCompile(`^\d+ slept 2000\n$`).MatchString(r.body) {
		t.Errorf("request in flight at SIGTERM: %d %q %v", r.code, r.body, r.err)
	}
	if r.took < 2*time.Second {
		t.Errorf("request in flight took %s, less than its 2s sleep", r.took)
	}
	if code := s.wait(t, stopTimeout); code != 0 {
		t.Errorf("master exited with %s, want 0", s.exitDesc)
	}
	s.assertNoWorkers(t)
	if !refused(s.addr) {
		t.Errorf("%s accepts connections after the master exited", s.addr)
	}
}

// During a graceful stop the master must not let the kernel accept
// connections nobody will serve: a client that connects after SIGTERM
// should be refused at once, not left hanging until the master exits and
// then reset.
func TestGracefulStopRefusesNewConnectionsAtOnce(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2"}, ready: 2})
	resc := slowRequest(t, s)
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: stopping gracefully \(SIGTERM\)`))
	// Every worker but the busy one exits at once; the busy one closes its
	// copy of the listener when it gets SIGTERM (maybe a moment after the
	// other one exited: a connection made then is reset).
	var accepted int
	var err error
	refused := poll(5*time.Second, func() bool {
		var c net.Conn
		if c, err = net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			accepted++
			c.Close()
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	select {
	case r := <-resc:
		t.Fatalf("the request in flight ended (after %s) before new connections were refused (%d accepted meanwhile; last dial: %v)", r.took, accepted, err)
	default:
	}
	if !refused {
		t.Errorf("connections still made 5s into the graceful stop (%d accepted; last dial: %v), want them refused", accepted, err)
	}
	<-resc
	if code := s.wait(t, stopTimeout); code != 0 {
		t.Errorf("master exited with %s, want 0", s.exitDesc)
	}
}

// When the master is killed with SIGKILL its workers die within a second
// and the port is free again.
func TestWorkersDieWithMaster(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "3"}, ready: 3})
	workers := s.workers()
	if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	s.wait(t, 5*time.Second)
	var left []int
	gone := poll(time.Second-time.Since(killed), func() bool {
		left = left[:0]
		for _, pid := range workers {
			if alive(pid) {
				left = append(left, pid)
			}
		}
		return len(left) == 0
	})
	if !gone {
		t.Errorf("workers %v of %v still alive 1s after the master was killed", left, workers)
	}
	var err error
	free := poll(time.Second, func() bool {
		var ln net.Listener
		ln, err = net.Listen("tcp4", s.addr)
		if err == nil {
			ln.Close()
		}
		return err == nil
	})
	if !free {
		t.Errorf("port %d not free after the master and its workers died: %v", s.port, err)
	}
}

// --max-workers 0: the app in the master's place takes the master's
// signals as they can apply to one process: TTIN and TTOU change nothing
// (and do not stop it), USR1 reopens the logs, HUP is logged as ignored.
func TestNoPoolSignals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	access, pidFile := filepath.Join(dir, "access.log"), filepath.Join(dir, "app.pid")
	s := start(t, options{args: []string{"--max-workers", "0", "--access-log", access, "--pid", pidFile}})
	eventually(t, startTimeout, "GET /pid answers", func() bool {
		_, _, err := s.whoami(s.client)
		return err == nil
	})
	for _, sig := range []syscall.Signal{syscall.SIGTTIN, syscall.SIGTTOU} {
		s.signal(t, sig)
		if pid, _, err := s.whoami(s.client); err != nil || pid != s.pid {
			t.Fatalf("after %v: GET /pid gave %d, %v; want the app in place, %d", sig, pid, err, s.pid)
		}
		if p, ok := readProc(s.pid); !ok || p.state == 'T' {
			t.Fatalf("after %v the app in place is stopped", sig)
		}
	}
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: SIGHUP ignored: with --max-workers 0 there is no worker to restart$`))

	if err := os.Rename(access, access+".1"); err != nil {
		t.Fatal(err)
	}
	s.signal(t, syscall.SIGUSR1)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: log files reopened$`))
	if _, _, err := s.get(s.client, "/pid?after=usr1"); err != nil {
		t.Fatal(err)
	}
	waitFileLine(t, access, regexp.MustCompile(`"GET /pid\?after=usr1 HTTP/1.1" 200 `))
	if fileHas(access+".1", regexp.MustCompile(`after=usr1`)) {
		t.Errorf("%s.1 got a line after USR1", access)
	}

	// QUIT stops at once, cutting the request in flight, and removes the
	// pid file.
	resc := longRequest(t, s)
	s.signal(t, syscall.SIGQUIT)
	if code := s.wait(t, 3*time.Second); code != 0 {
		t.Errorf("after QUIT: %s, want exit status 0", s.exitDesc)
	}
	s.waitLog(t, time.Second, regexp.MustCompile(`starlight: stopping now \(SIGQUIT\)$`))
	assertCut(t, resc)
	if exists(pidFile) {
		t.Errorf("pid file %s left after QUIT", pidFile)
	}
}

// --max-workers 0: the master execs the app in its own place; the app
// serves with the master's pid and stops on SIGTERM.
func TestNoPoolExecsInPlace(t *testing.T) {
	t.Parallel()
	access := filepath.Join(t.TempDir(), "access.log")
	s := start(t, options{args: []string{"--max-workers", "0", "--access-log", access}, extra: 1})
	answered := 0
	eventually(t, startTimeout, "GET /pid answers", func() bool {
		_, _, err := s.whoami(s.client)
		if err == nil {
			answered++
		}
		return err == nil
	})
	for range 5 {
		pid, _, err := s.whoami(s.client)
		if err != nil {
			t.Fatal(err)
		}
		if pid != s.pid {
			t.Fatalf("pid %d answered, want the master's own %d", pid, s.pid)
		}
		answered++
	}
	// The second listener is served too.
	if code, body, err := s.get(s.client, "http://"+s.extra[0]+"/pid"); err != nil || code != 200 || body != fmt.Sprintf("%d \n", s.pid) {
		t.Errorf("GET /pid on %s: %d %q %v", s.extra[0], code, body, err)
	} else {
		answered++
	}
	if p, ok := readProc(s.pid); !ok || p.argv0 != s.appPath {
		t.Errorf("the master's process runs %q, want the app %q", p.argv0, s.appPath)
	}
	var children []int
	for _, p := range listProcs() {
		if p.ppid == s.pid {
			children = append(children, p.pid)
		}
	}
	if len(children) > 0 {
		t.Errorf("the app in place has children %v, want none", children)
	}
	s.stop(t)
	if !refused(s.addr) {
		t.Errorf("%s accepts connections after the app exited", s.addr)
	}
	// The log is written by the app itself: every line is there once it
	// has exited.
	if lines, bad := readAccessLog(t, access); len(lines) != answered || len(bad) > 0 {
		t.Errorf("access log has %d lines (%d broken), want %d", len(lines)+len(bad), len(bad), answered)
	}
}

// A request that outlasts --graceful-timeout does not hold the stop up:
// the master exits soon after the timeout, with no worker left.
func TestGracefulTimeoutEndsTheStop(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2", "--graceful-timeout", "1"}, ready: 2})
	resc := longRequest(t, s)
	termed := time.Now()
	s.signal(t, syscall.SIGTERM)
	s.wait(t, 6*time.Second)
	if d := time.Since(termed); d < 900*time.Millisecond {
		t.Errorf("the master exited %s after SIGTERM, before the graceful timeout of 1s", d)
	}
	s.assertNoWorkers(t)
	assertCut(t, resc)
	if s.count(reOneCut) != 1 {
		t.Errorf("no log line says the worker's request in flight was cut (%s)", reOneCut)
	}
	// Its handler ended once cut: it does not count as served.
	if s.count(regexp.MustCompile(`starlight: worker \d+ exited \(stop\) after 0 requests; 1 request in flight cut$`)) != 1 {
		t.Errorf("the worker whose only request was cut does not say it served 0")
	}
}

// reOneCut is the exit of a worker whose one request in flight was cut.
var reOneCut = regexp.MustCompile(`starlight: worker \d+ .*; 1 request in flight cut$`)

// HUP and TTIN during a graceful stop change nothing, and the log says
// why.
func TestSignalsDuringStop(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "1"}, ready: 1})
	resc := longRequest(t, s)
	s.signal(t, syscall.SIGTERM)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: stopping gracefully`))
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: no reload \(SIGHUP\): stopping$`))
	s.signal(t, syscall.SIGTTIN)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: workers stay at 1: stopping$`))
	s.signal(t, syscall.SIGTERM) // forced: the 20 s request is cut
	s.wait(t, 5*time.Second)
	assertCut(t, resc)
	if n := s.count(regexp.MustCompile(`reload started`)); n > 0 {
		t.Errorf("%d reloads started during the stop", n)
	}
	if n := s.count(regexp.MustCompile(`starlight: worker \d+ spawned`)); n != 1 {
		t.Errorf("%d workers spawned, want the first one only", n)
	}
}

// longRequest starts a 20 s request and returns once a worker sleeps in
// it; its result comes on the channel (see assertCut).
func longRequest(t *testing.T, s *server) <-chan result {
	t.Helper()
	resc := make(chan result, 1)
	go func() {
		code, body, err := s.get(s.client, "/sleep?ms=20000")
		resc <- result{code: code, body: body, err: err}
	}()
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`^testapp: worker \d+ sleeping 20000 ms$`))
	return resc
}

// assertCut fails the test unless the 20s request whose result comes on
// resc was cut short.
func assertCut(t *testing.T, resc <-chan result) {
	t.Helper()
	select {
	case r := <-resc:
		if r.err == nil && r.code == http.StatusOK {
			t.Errorf("the 20s request was answered: %q", r.body)
		}
	case <-time.After(requestTimeout):
		t.Errorf("the client still waits for the cut request")
	}
}

// A second SIGTERM, or SIGQUIT, stops at once: requests in flight are cut.
func TestImmediateStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		sigs []syscall.Signal
		want string
	}{
		{"second-TERM", []syscall.Signal{syscall.SIGTERM, syscall.SIGTERM}, `starlight: stopping now \(SIGTERM\)`},
		{"QUIT", []syscall.Signal{syscall.SIGQUIT}, `starlight: stopping now \(SIGQUIT\)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, options{args: []string{"--workers", "2"}, ready: 2})
			resc := longRequest(t, s)
			for i, sig := range tc.sigs {
				s.signal(t, sig)
				if i == 0 && len(tc.sigs) > 1 {
					s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: stopping gracefully`))
				}
			}
			s.wait(t, 3*time.Second)
			s.waitLog(t, time.Second, regexp.MustCompile(tc.want))
			s.assertNoWorkers(t)
			assertCut(t, resc)
			if s.count(reOneCut) != 1 {
				t.Errorf("no log line says the worker's request in flight was cut (%s)", reOneCut)
			}
		})
	}
}

// A master whose stderr is a pipe that nobody reads any more (a log
// shipper that hangs) goes on serving, recycling workers, and obeying
// signals; once the pipe is read again, it gets the lines it missed (as
// many as the master could keep: see TestSinkDropsWhatAStalledLogMisses).
func TestMasterSurvivesStalledStderr(t *testing.T) {
	t.Parallel()
	// The smallest pipe: a few dozen lines fill it.
	m := startPiped(t, 4096, "--workers", "2", "--max-reqs-per-child", "1")
	c := newClient(false)
	eventually(t, startTimeout, "GET /pid answers", func() bool {
		resp, err := c.Get("http://" + m.addr + "/pid")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	// Every request recycles a worker: a few lines each, far more than the
	// pipe holds.
	for i := range 100 {
		resp, err := c.Get("http://" + m.addr + "/pid")
		if err != nil {
			t.Fatalf("request %d with the log stalled: %v", i, err)
		}
		resp.Body.Close()
	}
	m.signal(t, syscall.SIGTTIN)
	eventually(t, startTimeout, "3 workers after SIGTTIN", func() bool { return len(m.workers()) == 3 })
	m.signal(t, syscall.SIGTERM)
	// The log is read again: what it missed is counted at exit.
	logc := make(chan []byte, 1)
	go func() {
		b, err := io.ReadAll(m.log)
		if err != nil {
			b = append(b, "\nreading the log: "+err.Error()...)
		}
		logc <- b
	}()
	m.waitExitOK(t, "SIGTERM with its log stalled")
	var b []byte
	select {
	case b = <-logc:
	case <-time.After(5 * time.Second):
		t.Fatal("the log pipe is still open 5s after the master exited")
	}
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)starlight: worker \d+ recycled after 1 request$`),
		regexp.MustCompile(`(?m)starlight: stopping gracefully \(SIGTERM\)`),
	} {
		if !re.Match(b) {
			t.Errorf("the log, read again, lacks %s; it got:\n%s", re, b)
		}
	}
}

// pipedMaster is a starlight master whose stderr is a pipe the test holds:
// a server with its pid, appPath, cmd, addr and done only.
type pipedMaster struct {
	*server
	log *os.File // the pipe's read end
}

// startPiped starts starlight with args, -l on a free port and the test
// app, its stderr the write end of a pipe of pipeSize bytes (0: the
// default). At cleanup the master's group is killed and no worker may
// remain.
func startPiped(t *testing.T, pipeSize int, args ...string) *pipedMaster {
	t.Helper()
	app := testApp(t)
	addr := "127.0.0.1:" + itoa(freePort(t))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if pipeSize > 0 {
		if _, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(starlightBin, append(args, "-l", addr, app)...)
	cmd.Env = childEnv()
	cmd.Stderr = w
	err = startCmd(cmd)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	m := &pipedMaster{server: &server{pid: cmd.Process.Pid, appPath: app, cmd: cmd, addr: addr, done: make(chan struct{})}, log: r}
	go func() {
		cmd.Wait()
		close(m.done)
	}()
	t.Cleanup(func() {
		syscall.Kill(-m.pid, syscall.SIGKILL)
		<-m.done
		assertNothingLeft(t, app)
	})
	return m
}

// waitExitOK fails the test unless the master exits with status 0 within
// stopTimeout (after what, for the message).
func (m *pipedMaster) waitExitOK(t *testing.T, after string) {
	t.Helper()
	select {
	case <-m.done:
	case <-time.After(stopTimeout):
		t.Fatalf("master %d still runs %s after %s", m.pid, stopTimeout, after)
	}
	if code := m.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the master exited with %s after %s, want exit status 0", m.cmd.ProcessState, after)
	}
}

// A master whose stderr is a pipe that closes (a log shipper restarting,
// `starlight ... 2>&1 | head`) keeps serving: its log lines are lost, the
// server is not.
func TestMasterSurvivesClosedStderr(t *testing.T) {
	t.Parallel()
	m := startPiped(t, 0, "--workers", "2")

	// Read the log until both workers are ready, then close it.
	m.log.SetReadDeadline(time.Now().Add(startTimeout))
	br := bufio.NewReader(m.log)
	for ready := 0; ready < 2; {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the master's log: %v", err)
		}
		if reReady.MatchString(line) {
			ready++
		}
	}
	m.log.Close()

	// The master logs the signal, and the new worker, into the closed pipe.
	m.signal(t, syscall.SIGTTIN)
	eventually(t, startTimeout, "3 workers after SIGTTIN", func() bool { return m.exited() || len(m.workers()) == 3 })
	if m.exited() {
		t.Fatalf("the master exited: %s", m.cmd.ProcessState)
	}
	c := newClient(false)
	for range 10 {
		resp, err := c.Get("http://" + m.addr + "/pid")
		if err != nil {
			t.Fatalf("GET /pid after stderr closed: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /pid after stderr closed: %s", resp.Status)
		}
	}
	if m.exited() {
		t.Fatalf("the master exited: %s", m.cmd.ProcessState)
	}
	m.signal(t, syscall.SIGTERM)
	m.waitExitOK(t, "SIGTERM")
}
