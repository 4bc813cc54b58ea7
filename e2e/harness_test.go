package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Timeouts of the harness. They are deadlines, never delays: every wait
// polls a condition and returns as soon as it holds.
const (
	startTimeout   = 20 * time.Second // master listening, workers ready
	stopTimeout    = 15 * time.Second // master exited after a stop
	reapTimeout    = 3 * time.Second  // workers gone after the master
	requestTimeout = 10 * time.Second // one HTTP request
	pollEvery      = 20 * time.Millisecond
)

// poll calls cond until it returns true or timeout has passed, and reports
// whether it returned true.
func poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// eventually fails the test unless cond becomes true within timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !poll(timeout, cond) {
		t.Fatalf("not true after %s: %s", timeout, what)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testApp links the test app under a path of this test's own, so that its
// worker processes can be told from every other test's by their command
// line.
func testApp(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app")
	if err := os.Link(appBin, p); err != nil {
		copyExecutable(t, appBin, p)
	}
	return p
}

// copyExecutable copies the program src to dst, mode 0755.
func copyExecutable(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// sharedDir makes a temporary directory that other users may enter, for
// what a test runs as another user (t.TempDir is 0700), removed at the
// end of the test.
func sharedDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// freeDualPort returns a port free on both 127.0.0.1 and ::1 a moment ago.
func freeDualPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		port := freePort(t)
		ln, err := net.Listen("tcp6", "[::1]:"+itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and ::1")
	return 0
}

// childEnv is this process's environment without what would make the
// master or its workers behave differently (systemd, a worker spec), plus
// extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET",
			"STARLIGHT_WORKER", "STARLIGHT_ENV", "STARLIGHT_GENERATION", "STARLIGHT_DAEMON_FD",
			"TESTAPP_FAIL_FILE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startc feeds startCmd's thread.
var startc = make(chan startReq)

type startReq struct {
	cmd   *exec.Cmd
	reply chan error
}

func init() {
	go func() {
		// Never unlocked and never returns: the thread lives as long as
		// the test process.
		runtime.LockOSThread()
		for r := range startc {
			r.reply <- r.cmd.Start()
		}
	}()
}

// startCmd starts cmd in a process group of its own, killed when this test
// process dies (a timeout, a crash), so that no master outlives the tests.
// Linux sends the parent-death signal when the thread that forked exits,
// so every command is started from one thread that never exits.
func startCmd(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	reply := make(chan error, 1)
	startc <- startReq{cmd, reply}
	return <-reply
}

// options says how to start a master.
type options struct {
	args     []string // options, before APP
	env      []string // extra environment, NAME=value
	ready    int      // wait for this many ready workers (0: only until it listens)
	port     int      // listen on 127.0.0.1:port; 0 = a free port
	extra    int      // listen on this many more free ports (see server.extra)
	hostPort bool     // say -o 127.0.0.1 -p PORT instead of -l 127.0.0.1:PORT
}

// server is one running starlight master.
type server struct {
	t       testing.TB
	cmd     *exec.Cmd
	pid     int
	port    int
	addr    string   // 127.0.0.1:port
	extra   []string // more addresses listened on, with options.extra
	appPath string   // the test app, unique to this test
	stderr  *syncBuffer
	stdout  *syncBuffer
	client  *http.Client // keep-alive off

	done     chan struct{} // closed when the master has exited
	exitCode int           // valid once done is closed; -1 for a signal
	exitDesc string
}

var (
	reListening = regexp.MustCompile(`starlight: (.* serving http://|worker \d+ spawned|serving in this process)`)
	reReady     = regexp.MustCompile(`starlight: worker (\d+) ready \(generation (\d+)\)`)
	reSpawned   = regexp.MustCompile(`starlight: worker (\d+) spawned \(generation (\d+), slot (\d+)\)`)
	reGone      = regexp.MustCompile(`starlight: worker (\d+) (exited|crashed|recycled|killed by|exit status)`)
)

// start runs starlight with o.args, -l 127.0.0.1:PORT and this test's app,
// and waits until it listens (it may have exited since) and, with o.ready,
// until that many workers are ready. The master is killed and its workers
// checked for at cleanup.
func start(t testing.TB, o options) *server {
	t.Helper()
	appPath := testApp(t)
	for attempt := 1; ; attempt++ {
		port := o.port
		if port == 0 {
			port = freePort(t)
		}
		s := launch(t, appPath, port, o)
		poll(startTimeout, func() bool { return s.exited() || reListening.MatchString(s.stderr.String()) })
		listening := reListening.MatchString(s.stderr.String())
		if s.exited() && !listening {
			if o.port == 0 && attempt < 3 && strings.Contains(s.stderr.String(), "address already in use") {
				t.Logf("port %d was taken meanwhile; trying another", port)
				continue
			}
			t.Fatalf("starlight exited before it listened (%s):\n%s", s.exitDesc, s.stderr)
		}
		if !listening {
			t.Fatalf("starlight does not listen after %s", startTimeout)
		}
		if o.ready > 0 {
			s.waitPool(t, o.ready, startTimeout)
		}
		return s
	}
}

func launch(t testing.TB, appPath string, port int, o options) *server {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := slices.Clone(o.args)
	if o.hostPort {
		args = append(args, "-o", "127.0.0.1", "-p", strconv.Itoa(port))
	} else {
		args = append(args, "-l", addr)
	}
	var extra []string
	for range o.extra {
		a := "127.0.0.1:" + strconv.Itoa(freePort(t))
		extra = append(extra, a)
		args = append(args, "-l", a)
	}
	args = append(args, appPath)
	s := startArgv(t, appPath, append([]string{starlightBin}, args...), o.env)
	s.port, s.addr, s.extra = port, addr, extra
	return s
}

// startArgv runs argv (the starlight command, or a shell that execs it)
// exactly as given: unlike start, it adds no listener and no app, and
// does not wait. app is the test app in argv, to tell its workers. The
// master is killed and its workers checked for at cleanup, as with start.
func startArgv(t testing.TB, app string, argv []string, env []string, files ...*os.File) *server {
	t.Helper()
	s := &server{
		t:       t,
		addr:    "(see args)",
		appPath: app,
		stderr:  new(syncBuffer),
		stdout:  new(syncBuffer),
		client:  newClient(false),
		done:    make(chan struct{}),
	}
	s.cmd = exec.Command(argv[0], argv[1:]...)
	s.cmd.Env = childEnv(env...)
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stderr
	s.cmd.ExtraFiles = files
	s.cmd.WaitDelay = 5 * time.Second
	if err := startCmd(s.cmd); err != nil {
		t.Fatal(err)
	}
	s.pid = s.cmd.Process.Pid
	go func() {
		err := s.cmd.Wait()
		s.exitCode = s.cmd.ProcessState.ExitCode()
		s.exitDesc = s.cmd.ProcessState.String()
		if err != nil && !errors.As(err, new(*exec.ExitError)) {
			s.exitDesc += " (" + err.Error() + ")"
		}
		close(s.done)
	}()
	t.Cleanup(s.cleanup)
	return s
}

// startServer runs starlight with args and app, and waits until n workers
// are ready (read from the master's log on stderr).
func startServer(t *testing.T, app string, n int, args ...string) *server {
	t.Helper()
	argv := append([]string{starlightBin, "--workers", itoa(n)}, args...)
	s := startArgv(t, app, append(argv, app), nil)
	s.waitPool(t, n, startTimeout)
	return s
}

// cleanup kills what is left of the server, fails the test if any worker
// outlived the master, and shows the master's output when the test failed.
func (s *server) cleanup() {
	t := s.t
	if !s.exited() {
		syscall.Kill(-s.pid, syscall.SIGKILL) // the master's process group
		select {
		case <-s.done:
		case <-time.After(stopTimeout):
			t.Errorf("master %d still runs after SIGKILL", s.pid)
		}
	}
	if left := s.waitNoWorkers(reapTimeout); len(left) > 0 {
		t.Errorf("processes of this test left behind %s after the master exited: %v", reapTimeout, left)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	s.client.CloseIdleConnections()
	if t.Failed() {
		desc := "still running"
		if s.exited() {
			desc = s.exitDesc
		}
		t.Logf("master %d (-l %s), %s; its stderr:\n%s", s.pid, s.addr, desc, s.stderr)
		if out := s.stdout.String(); out != "" {
			t.Logf("its stdout:\n%s", out)
		}
	}
}

func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *server) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(s.pid, sig); err != nil {
		t.Fatalf("kill -%d %d: %v", sig, s.pid, err)
	}
}

// wait waits for the master to exit and returns its exit status.
func (s *server) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		return s.exitCode
	case <-time.After(timeout):
		t.Fatalf("master %d still runs after %s", s.pid, timeout)
		return 0
	}
}

// stop stops the master gracefully and checks that it exits 0 and leaves
// no worker behind.
func (s *server) stop(t testing.TB) {
	t.Helper()
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, stopTimeout); code != 0 {
		t.Errorf("after SIGTERM the master exited with %s, want 0", s.exitDesc)
	}
	s.assertNoWorkers(t)
}

// assertNoWorkers fails the test if a process of this test outlived the
// master by more than reapTimeout.
func (s *server) assertNoWorkers(t testing.TB) {
	t.Helper()
	if left := s.waitNoWorkers(reapTimeout); len(left) > 0 {
		t.Errorf("worker processes remain after the master exited: %v", left)
	}
}

func (s *server) waitNoWorkers(timeout time.Duration) []int {
	var left []int
	poll(timeout, func() bool {
		left = s.leftovers()
		return len(left) == 0
	})
	return left
}

// leftovers lists the live processes that run this test's app, or are the
// master's children while the master runs, other than the master itself.
func (s *server) leftovers() []int {
	alive := !s.exited()
	var out []int
	for _, p := range listProcs() {
		if p.pid == s.pid || p.state == 'Z' {
			continue
		}
		if p.argv0 == s.appPath || (alive && p.ppid == s.pid) {
			out = append(out, p.pid)
		}
	}
	return out
}

// workers lists the master's live children that run the app.
func (s *server) workers() []int {
	var out []int
	for _, p := range listProcs() {
		if p.ppid == s.pid && p.state != 'Z' && p.argv0 == s.appPath {
			out = append(out, p.pid)
		}
	}
	return out
}

// readyWorkers lists the workers the master has reported ready and not
// gone.
func (s *server) readyWorkers() []int {
	ready := map[int]bool{}
	for _, line := range s.lines() {
		if m := reReady.FindStringSubmatch(line); m != nil {
			ready[atoi(m[1])] = true
		} else if m := reGone.FindStringSubmatch(line); m != nil {
			delete(ready, atoi(m[1]))
		}
	}
	var out []int
	for _, pid := range s.workers() {
		if ready[pid] {
			out = append(out, pid)
		}
	}
	return out
}

// waitPool waits until exactly n workers run and all of them are ready,
// and returns their pids.
func (s *server) waitPool(t testing.TB, n int, timeout time.Duration) []int {
	t.Helper()
	var pids []int
	ok := poll(timeout, func() bool {
		if s.exited() {
			return true
		}
		pids = s.readyWorkers()
		return len(pids) == n && len(s.workers()) == n
	})
	if s.exited() {
		t.Fatalf("master exited (%s) while waiting for %d ready workers", s.exitDesc, n)
	}
	if !ok {
		t.Fatalf("want %d ready workers; after %s: %d workers %v, ready %v", n, timeout, len(s.workers()), s.workers(), pids)
	}
	return pids
}

func (s *server) lines() []string {
	return strings.Split(strings.TrimRight(s.stderr.String(), "\n"), "\n")
}

// count counts the master's log lines that match re.
func (s *server) count(re *regexp.Regexp) int {
	n := 0
	for _, line := range s.lines() {
		if re.MatchString(line) {
			n++
		}
	}
	return n
}

// waitLog waits until a log line matches re.
func (s *server) waitLog(t testing.TB, timeout time.Duration, re *regexp.Regexp) {
	t.Helper()
	s.waitLogN(t, timeout, re, 1)
}

// waitLogN waits until n log lines match re.
func (s *server) waitLogN(t testing.TB, timeout time.Duration, re *regexp.Regexp, n int) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("%d log lines matching %s", n, re), func() bool { return s.count(re) >= n })
}

// url is the URL of path on the main listener; a full URL is kept as is.
func (s *server) url(path string) string {
	if strings.HasPrefix(path, "http://") {
		return path
	}
	return "http://" + s.addr + path
}

// get fetches path (see url) and returns the status and the body.
func (s *server) get(c *http.Client, path string) (int, string, error) {
	return fetch(c, s.url(path))
}

// fetch GETs url and returns the status and the body.
func fetch(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustFetch GETs url and fails the test unless the answer is 200.
func mustFetch(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	code, body, err := fetch(c, url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %q %v", url, code, body, err)
	}
	return body
}

// whoami asks /pid which worker answers, and its generation.
func (s *server) whoami(c *http.Client) (pid int, gen string, err error) {
	code, body, err := s.get(c, "/pid")
	if err != nil {
		return 0, "", err
	}
	if code != http.StatusOK {
		return 0, "", fmt.Errorf("GET /pid: status %d: %q", code, body)
	}
	f := strings.Fields(body)
	if len(f) < 1 {
		return 0, "", fmt.Errorf("GET /pid: %q", body)
	}
	pid, err = strconv.Atoi(f[0])
	if err != nil {
		return 0, "", fmt.Errorf("GET /pid: %q", body)
	}
	if len(f) > 1 {
		gen = f[1]
	}
	return pid, gen, nil
}

// pidOf parses the worker pid out of a /pid answer.
func pidOf(body string) int {
	f := strings.Fields(body)
	if len(f) == 0 {
		return 0
	}
	return atoi(f[0])
}

// newClient returns an HTTP client with no proxy; keepAlive false opens a
// connection for every request.
func newClient(keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DisableKeepAlives:   !keepAlive,
			MaxIdleConnsPerHost: 16,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
}

// unixHTTP is a client whose every request goes to the unix socket at
// path (an abstract one when it starts with @); the URL's host is
// ignored.
func unixHTTP(path string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

// loadResult is what a load of /pid requests saw: the worker pids that
// answered (with counts), the requests made and the errors.
type loadResult struct {
	mu       sync.Mutex
	pids     map[int]int    // pid -> requests answered
	gens     map[string]int // generation -> requests answered
	requests atomic.Int64
	errs     errList
}

func (r *loadResult) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pids)
}

func (r *loadResult) pidSet() map[int]bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[int]bool{}
	for pid := range r.pids {
		m[pid] = true
	}
	return m
}

func newLoadResult() *loadResult {
	return &loadResult{pids: map[int]int{}, gens: map[string]int{}}
}

// loadPIDs runs clients goroutines that GET /pid until total requests were
// made, or timeout passed, or stop returns true.
func loadPIDs(s *server, c *http.Client, clients, total int, timeout time.Duration, stop func(*loadResult) bool) *loadResult {
	r := newLoadResult()
	r.run(s, c, clients, total, timeout, stop)
	return r
}

func (r *loadResult) run(s *server, c *http.Client, clients, total int, timeout time.Duration, stop func(*loadResult) bool) {
	deadline := time.Now().Add(timeout)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(total) && time.Now().Before(deadline) {
				if stop != nil && stop(r) {
					return
				}
				r.requests.Add(1)
				pid, gen, err := s.whoami(c)
				if err != nil {
					r.errs.add("%v", err)
					continue
				}
				r.mu.Lock()
				r.pids[pid]++
				r.gens[gen]++
				r.mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// errList gathers the errors of concurrent clients.
type errList struct {
	mu   sync.Mutex
	n    int
	errs []string
}

func (e *errList) add(format string, a ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	if len(e.errs) < 10 {
		e.errs = append(e.errs, fmt.Sprintf(format, a...))
	}
}

func (e *errList) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (e *errList) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.errs, "\n")
}

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid, pgrp int
	state           byte
	argv0           string
}

// listProcs reads every process from /proc; processes that exit meanwhile
// are left out.
func listProcs() []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

func readProc(pid int) (proc, bool) {
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return proc{}, false
	}
	// pid (comm) state ppid ...; comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 > len(stat) {
		return proc{}, false
	}
	f := strings.Fields(string(stat[i+2:]))
	if len(f) < 3 {
		return proc{}, false
	}
	p := proc{pid: pid, state: f[0][0], ppid: atoi(f[1]), pgrp: atoi(f[2])}
	cmdline, _ := os.ReadFile(dir + "/cmdline")
	p.argv0, _, _ = strings.Cut(string(cmdline), "\x00")
	return p, true
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	p, ok := readProc(pid)
	return ok && p.state != 'Z'
}

// argvHolding lists the live processes with arg among their arguments.
func argvHolding(arg string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(b), "\x00"), arg) {
			out = append(out, pid)
		}
	}
	return out
}

// killArgvHolding kills, at cleanup, whatever still runs with arg among its
// arguments (a daemon is no child of the test).
func killArgvHolding(t *testing.T, arg string) {
	t.Cleanup(func() {
		for _, pid := range argvHolding(arg) {
			t.Errorf("process %d (with %s) still runs at the end of the test; killing it", pid, arg)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// statFields returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, session, tty_nr, ...
func statFields(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(string(b), ')')
	return strings.Fields(string(b[i+2:]))
}

// procStatus reads /proc/PID/status into a map of its fields.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// stampOf parses the time at the start of a master's log line.
func stampOf(line string) (time.Time, bool) {
	const layout = "2006-01-02 15:04:05.000"
	if len(line) < len(layout) {
		return time.Time{}, false
	}
	ts, err := time.ParseInLocation(layout, line[:len(layout)], time.Local)
	return ts, err == nil
}

// runStarlight runs starlight to completion (it is expected to fail
// fast) and returns its exit status, stdout and stderr.
func runStarlight(t testing.TB, dir string, args ...string) (int, string, string) {
	t.Helper()
	return runStarlightEnv(t, dir, nil, args...)
}

// runStarlightEnv is runStarlight with env added to the environment.
func runStarlightEnv(t testing.TB, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, starlightBin, args...)
	cmd.Dir = dir
	cmd.Env = childEnv(env...)
	var stdout, stderr syncBuffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := startCmd(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if ctx.Err() != nil {
		t.Fatalf("starlight %s: still running after 90s; stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	if err != nil && !errors.As(err, new(*exec.ExitError)) {
		t.Fatalf("starlight %s: %v", strings.Join(args, " "), err)
	}
	// Whatever the master started in its own process group (go build)
	// must be gone with it.
	pgid := cmd.Process.Pid
	if left := waitGone(reapTimeout, func(p proc) bool { return p.pgrp == pgid }); len(left) > 0 {
		t.Errorf("processes of starlight's group %d left behind: %v", pgid, left)
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// runFailing runs starlight with args, which should fail to start, and
// returns its exit status and stderr. Unlike runStarlight, it gives up
// (failing the test) after startTimeout: a server that starts when it
// should not is soon noticed, and killed at cleanup with its workers.
func runFailing(t *testing.T, app string, args ...string) (int, string) {
	t.Helper()
	s := startArgv(t, app, append([]string{starlightBin}, args...), nil)
	select {
	case <-s.done:
	case <-time.After(startTimeout):
		t.Fatalf("starlight %s: still running after %s; stderr:\n%s", strings.Join(args, " "), startTimeout, s.stderr)
	}
	if out := s.stdout.String(); out != "" {
		t.Errorf("starlight %s: stdout %q, want nothing", strings.Join(args, " "), out)
	}
	return s.exitCode, s.stderr.String()
}

// assertNothingLeft fails the test if a process runs app.
func assertNothingLeft(t testing.TB, app string) {
	t.Helper()
	if left := waitGone(reapTimeout, func(p proc) bool { return p.argv0 == app }); len(left) > 0 {
		t.Errorf("processes running %s left behind: %v", app, left)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// waitGone waits until no live process matches, and returns those that
// still do after timeout.
func waitGone(timeout time.Duration, match func(proc) bool) []int {
	var left []int
	poll(timeout, func() bool {
		left = left[:0]
		for _, p := range listProcs() {
			if p.state != 'Z' && match(p) {
				left = append(left, p.pid)
			}
		}
		return len(left) == 0
	})
	return left
}

// seenPIDs GETs /pid through c (at most max times) until every pid of
// want has answered, and returns the pids that answered.
func seenPIDs(c *http.Client, url string, want []int, max int) map[int]bool {
	seen := map[int]bool{}
	for i := 0; i < max; i++ {
		if _, body, err := fetch(c, url); err == nil {
			seen[pidOf(body)] = true
		}
		all := true
		for _, p := range want {
			all = all && seen[p]
		}
		if all {
			break
		}
	}
	return seen
}

// fileCount counts the lines of the file at path that match re.
func fileCount(path string, re *regexp.Regexp) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if re.MatchString(line) {
			n++
		}
	}
	return n
}

// fileHas reports whether the file at path has a line matching re.
func fileHas(path string, re *regexp.Regexp) bool { return fileCount(path, re) > 0 }

func waitFileLine(t *testing.T, path string, re *regexp.Regexp) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("a line of %s matching %s", path, re), func() bool { return fileHas(path, re) })
}

// staleSocket leaves a unix socket file at path that nothing listens on,
// as a server killed without cleaning up would.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("stale socket %s not left on disk: %v", path, err)
	}
}

func isSocketFile(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.Mode()&os.ModeSocket != 0
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// closedPort reports whether a TCP connection to addr is refused.
func closedPort(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// reOneLine is the shape of a start failure: one line naming the problem.
var reOneLine = regexp.MustCompile(`^starlight: [^\n]+\n$`)

// lookupEtc finds the id of name in /etc/passwd or /etc/group.
func lookupEtc(file, name string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			return id, err == nil
		}
	}
	return 0, false
}

// notifyListener receives what the server sends to $NOTIFY_SOCKET.
type notifyListener struct {
	path string
	msgs chan notifyMsg
}

type notifyMsg struct {
	at   time.Time
	text string
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{path: path, msgs: make(chan notifyMsg, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			n.msgs <- notifyMsg{time.Now(), string(buf[:k])}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return n
}

// next returns the next message, failing the test if none comes in time.
func (n *notifyListener) next(t *testing.T, what string) notifyMsg {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(15 * time.Second):
		t.Fatalf("no notification after 15s; want %s", what)
		return notifyMsg{}
	}
}

// rest returns the messages received and not yet taken, up to now: those
// sent before this call, which a mark it sends itself follows.
func (n *notifyListener) rest(t *testing.T) []notifyMsg {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const mark = "END-OF-TEST"
	if _, err := c.Write([]byte(mark)); err != nil {
		t.Fatal(err)
	}
	var rest []notifyMsg
	for {
		m := n.next(t, "the test's own mark")
		if m.text == mark {
			return rest
		}
		rest = append(rest, m)
	}
}

func hasLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}
