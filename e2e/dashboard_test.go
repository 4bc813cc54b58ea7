package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The dashboard, in a real terminal: each test runs starlight in a tmux
// session on a tmux server of its own, reads the screen with
// capture-pane and types with send-keys.

const (
	screenTimeout = 15 * time.Second // the screen shows what a key asked for
	tmuxTimeout   = 10 * time.Second // one tmux command
)

var (
	tmuxSeq      atomic.Int64
	reScreenReqs = regexp.MustCompile(`requests (\d[\d,]*)`)
	reWorkerRow  = regexp.MustCompile(`^│[\s▸]*(\d+)\s+(\d+)\s+(\d+)\s`) // ▸: the selected row
	reTailLine   = regexp.MustCompile(`^\d\d:\d\d:\d\d [a-z-]+ +\S`)
)

// dashboard is starlight running under its dashboard in a tmux session.
type dashboard struct {
	t      *testing.T
	socket string // tmux -L
	name   string // the session
	bin    string // starlight, linked under a path of this test's own
	app    string // the test app, likewise
	addr   string
	port   int
	conf   string
	status string  // where the pane's shell writes starlight's exit status
	server *server // for its HTTP helpers only: no process behind it
}

// startDashboard runs starlight --workers 2 -l 127.0.0.1:PORT args APP
// in a width×height tmux session and waits until it serves. At cleanup
// the tmux server is killed and no process of starlight or the app may
// remain.
func startDashboard(t *testing.T, width, height int, args ...string) *dashboard {
	t.Helper()
	return startDashboardApp(t, width, height, "", nil, args...)
}

// startDashboardApp is startDashboard for app (the test app if empty),
// with env set for starlight.
func startDashboardApp(t *testing.T, width, height int, app string, env []string, args ...string) *dashboard {
	t.Helper()
	d, dir := newDashboard(t)
	if app != "" {
		d.app = app
	}
	for attempt := 1; ; attempt++ {
		d.session("dash" + itoa(attempt))
		argv := append([]string{d.bin, "--workers", "2", "-l", d.addr}, args...)
		argv = append(argv, d.app)
		if len(env) > 0 {
			argv = append(append([]string{"env"}, env...), argv...)
		}
		// The pane's shell records starlight's exit status: tmux leaves
		// #{pane_dead_status} empty for a status of 0.
		d.status = filepath.Join(dir, d.name+".status")
		d.tmuxOK("-f", d.conf, "new-session", "-d", "-s", d.name,
			"-x", itoa(width), "-y", itoa(height),
			shellJoin(argv)+"; echo $? >"+shellJoin([]string{d.status}))
		var err error
		timeout := startTimeout
		if app != "" {
			timeout = liveStartTimeout // it may be built first
		}
		up := poll(timeout, func() bool {
			if dead, _ := d.paneDead(); dead {
				return true
			}
			_, _, err = d.server.whoami(d.server.client)
			return err == nil
		})
		if dead, status := d.paneDead(); dead {
			screen := d.screen()
			if attempt < 3 && strings.Contains(screen, "address already in use") {
				t.Logf("port %d was taken meanwhile; trying another", d.port)
				d.tmux("kill-session", "-t", d.name)
				continue
			}
			t.Fatalf("starlight exited (status %d) before it served; its screen:\n%s", status, screen)
		}
		if !up {
			t.Fatalf("starlight does not serve after %s (%v); its screen:\n%s", timeout, err, d.screen())
		}
		return d
	}
}

// newDashboard prepares a tmux server of this test's own, with starlight
// and the test app linked under paths of the test's own, and returns it
// with the test's directory. At cleanup the tmux server is killed and no
// process of starlight or the app may remain.
func newDashboard(t *testing.T) (*dashboard, string) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	dir := t.TempDir()
	d := &dashboard{
		t:      t,
		socket: fmt.Sprintf("starlight-e2e-%d-%d", os.Getpid(), tmuxSeq.Add(1)),
		bin:    filepath.Join(dir, "starlight"),
		app:    testApp(t),
		conf:   filepath.Join(dir, "tmux.conf"),
	}
	if err := os.Link(starlightBin, d.bin); err != nil {
		b, err := os.ReadFile(starlightBin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A dead pane stays, so that its last screen and exit status can be
	// read; no status line takes a row of the terminal.
	write(t, d.conf, "set -g remain-on-exit on\nset -g status off\n")
	t.Cleanup(d.cleanup)
	return d, dir
}

// session names the tmux session to come and picks a free port for its
// starlight, with an HTTP client for it.
func (d *dashboard) session(name string) {
	d.name = name
	d.port = freePort(d.t)
	d.addr = "127.0.0.1:" + itoa(d.port)
	d.server = &server{t: d.t, addr: d.addr, client: newClient(false)}
}

// shellJoin quotes argv for sh.
func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// tmux runs a tmux command on this test's server.
func (d *dashboard) tmux(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tmuxTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tmux", append([]string{"-L", d.socket}, args...)...)
	var env []string
	for _, kv := range childEnv() {
		if name, _, _ := strings.Cut(kv, "="); name != "TMUX" && name != "TMUX_PANE" {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (d *dashboard) tmuxOK(args ...string) string {
	d.t.Helper()
	out, err := d.tmux(args...)
	if err != nil {
		d.t.Fatal(err)
	}
	return out
}

// screen is what the terminal shows now.
func (d *dashboard) screen() string {
	out, err := d.tmux("capture-pane", "-p", "-t", d.name)
	if err != nil {
		return err.Error()
	}
	return out
}

// keys types s.
func (d *dashboard) keys(s string) {
	d.t.Helper()
	d.tmuxOK("send-keys", "-t", d.name, "-l", s)
}

// paneDead reports whether starlight has exited, and its exit status (128
// plus the signal's number when a signal ended it).
func (d *dashboard) paneDead() (bool, int) {
	b, err := os.ReadFile(d.status)
	if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
		return false, 0
	}
	return true, atoi(strings.TrimSpace(string(b)))
}

// waitScreen waits until cond holds for the screen and returns it.
func (d *dashboard) waitScreen(what string, cond func(screen string) bool) string {
	d.t.Helper()
	var screen string
	if !poll(screenTimeout, func() bool {
		screen = d.screen()
		return cond(screen)
	}) {
		d.t.Fatalf("the screen does not show %s after %s:\n%s", what, screenTimeout, screen)
	}
	return screen
}

// procs lists the live processes running this test's starlight or app.
func (d *dashboard) procs() (masters, workers []int) {
	for _, p := range listProcs() {
		if p.state == 'Z' {
			continue
		}
		switch p.argv0 {
		case d.bin:
			masters = append(masters, p.pid)
		case d.app:
			workers = append(workers, p.pid)
		}
	}
	slices.Sort(workers)
	return masters, workers
}

// waitGone waits until no process of starlight or the app runs.
func (d *dashboard) waitGone(timeout time.Duration) (masters, workers []int, ok bool) {
	ok = poll(timeout, func() bool {
		masters, workers = d.procs()
		return len(masters) == 0 && len(workers) == 0
	})
	return masters, workers, ok
}

func (d *dashboard) cleanup() {
	t := d.t
	if t.Failed() && d.name != "" {
		t.Logf("the screen of session %s:\n%s", d.name, d.screen())
	}
	d.tmux("kill-server")
	if d.server != nil {
		d.server.client.CloseIdleConnections()
	}
	if masters, workers, ok := d.waitGone(stopTimeout); !ok {
		t.Errorf("processes left after the tmux server was killed: starlight %v, workers %v", masters, workers)
		for _, pid := range append(masters, workers...) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// workerRows reads the workers pane: pid -> generation.
func workerRows(screen string) map[int]int {
	rows := map[int]int{}
	for _, line := range pane(screen, "Workers") {
		if m := reWorkerRow.FindStringSubmatch(line); m != nil {
			rows[atoi(m[2])] = atoi(m[3])
		}
	}
	return rows
}

func rowPIDs(rows map[int]int) []int {
	var pids []int
	for pid := range rows {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	return pids
}

// screenRequests is the request total of the header, or -1.
func screenRequests(screen string) int {
	m := reScreenReqs.FindStringSubmatch(screen)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
	if err != nil {
		return -1
	}
	return n
}

// servingPIDs asks /pid until want distinct workers answered (at most
// 200 requests) and returns them, sorted, with the requests made.
func (d *dashboard) servingPIDs(want int) ([]int, int) {
	d.t.Helper()
	seen := map[int]bool{}
	n := 0
	for n < 200 && len(seen) < want {
		n++
		pid, _, err := d.server.whoami(d.server.client)
		if err != nil {
			d.t.Fatalf("GET /pid: %v", err)
		}
		seen[pid] = true
	}
	var pids []int
	for pid := range seen {
		pids = append(pids, pid)
	}
	slices.Sort(pids)
	if len(pids) != want {
		d.t.Fatalf("%d requests to /pid reached workers %v, want %d distinct", n, pids, want)
	}
	return pids, n
}

// The dashboard shows the workers and the request total, and its keys
// work: + adds a worker, r replaces them all with generation 2, a shows
// and hides the access lines, q stops the server and prints the last
// events.
func TestDashboardKeys(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40)

	pids, made := d.servingPIDs(2)
	d.waitScreen("the 2 workers that answer /pid, workers 2/2", func(s string) bool {
		return slices.Equal(rowPIDs(workerRows(s)), pids) && strings.Contains(s, "workers 2/2")
	})
	for i := range 30 {
		if _, _, err := d.server.whoami(d.server.client); err != nil {
			t.Fatalf("request %d of the burst: %v", i, err)
		}
	}
	// Every request served: the one startDashboard waited for, those
	// servingPIDs made and the burst. None is counted twice.
	made += 30 + 1
	screen := d.waitScreen(fmt.Sprintf("a request total of %d", made), func(s string) bool {
		return screenRequests(s) >= made
	})
	if n := screenRequests(screen); n != made {
		t.Errorf("request total on screen %d, want %d", n, made)
	}

	d.keys("+")
	screen = d.waitScreen("a third worker, workers 3/3", func(s string) bool {
		rows := workerRows(s)
		return len(rows) == 3 && strings.Contains(s, "workers 3/3")
	})
	three := rowPIDs(workerRows(screen))
	for _, pid := range pids {
		if !slices.Contains(three, pid) {
			t.Errorf("worker %d went when a worker was added: the screen shows %v", pid, three)
		}
	}
	_, running := d.procs()
	if !slices.Equal(running, three) {
		t.Errorf("the screen shows workers %v; the app runs as %v", three, running)
	}

	d.keys("r")
	screen = d.waitScreen("3 new workers of generation 2", func(s string) bool {
		rows := workerRows(s)
		if len(rows) != 3 || !regexp.MustCompile(`\bgen 2\b`).MatchString(s) {
			return false
		}
		for pid, gen := range rows {
			if gen != 2 || slices.Contains(three, pid) {
				return false
			}
		}
		return true
	})
	fresh := rowPIDs(workerRows(screen))
	for i := range 10 {
		pid, gen, err := d.server.whoami(d.server.client)
		if err != nil || gen != "2" || !slices.Contains(fresh, pid) {
			t.Fatalf("request %d after the reload: worker %d of generation %q answered (%v); the screen shows %v", i, pid, gen, err, fresh)
		}
	}

	d.waitScreen("the logs pane with access hidden", func(s string) bool { return strings.Contains(s, "access hidden") })
	d.keys("a")
	d.waitScreen("the logs pane with access shown", func(s string) bool {
		return strings.Contains(s, "access shown") && !strings.Contains(s, "access hidden")
	})
	// Shown, access lines are written by the workers and reach the pane.
	mark := "/pid?mark=" + itoa(os.Getpid())
	if _, _, err := d.server.get(d.server.client, mark); err != nil {
		t.Fatalf("GET %s: %v", mark, err)
	}
	d.waitScreen("the access line of GET "+mark, func(s string) bool { return strings.Contains(s, "GET "+mark) })
	d.keys("a")
	d.waitScreen("the logs pane with access hidden again", func(s string) bool {
		return strings.Contains(s, "access hidden") && !strings.Contains(s, "access shown")
	})

	d.keys("q")
	var dead bool
	var status int
	if !poll(stopTimeout, func() bool { dead, status = d.paneDead(); return dead }) {
		t.Fatalf("starlight still runs %s after q; its screen:\n%s", stopTimeout, d.screen())
	}
	if status != 0 {
		t.Errorf("after q starlight exited with status %d, want 0", status)
	}
	if masters, workers, ok := d.waitGone(reapTimeout); !ok {
		t.Errorf("after q: starlight %v and workers %v still run", masters, workers)
	}
	screen = d.screen()
	var tail []string
	for _, line := range strings.Split(screen, "\n") {
		if reTailLine.MatchString(line) {
			tail = append(tail, line)
		}
	}
	if len(tail) == 0 || !strings.Contains(strings.Join(tail, "\n"), "stopping gracefully (asked)") {
		t.Errorf("after q the last events are not printed as plain lines (want one saying stopping gracefully (asked)):\n%s", screen)
	}
	for _, pid := range fresh {
		if !strings.Contains(screen, fmt.Sprintf("worker %d exited (stop)", pid)) {
			t.Errorf("the last events do not say worker %d exited (stop):\n%s", pid, screen)
		}
	}
	if strings.ContainsAny(screen, "╭╰│") {
		t.Errorf("the dashboard is still drawn after q:\n%s", screen)
	}
}

// When its terminal goes away, starlight stops gracefully: it neither
// keeps running nor takes the hangup for a reload.
func TestDashboardTerminalGone(t *testing.T) {
	t.Parallel()
	logFile := filepath.Join(t.TempDir(), "error.log")
	d := startDashboard(t, 120, 40, "--error-log", logFile)
	d.waitScreen("2 workers", func(s string) bool { return len(workerRows(s)) == 2 && strings.Contains(s, "workers 2/2") })
	masters, workers := d.procs()
	if len(masters) != 1 || len(workers) != 2 {
		t.Fatalf("before the hangup: starlight %v, workers %v", masters, workers)
	}

	d.tmuxOK("kill-session", "-t", d.name)
	if m, w, ok := d.waitGone(stopTimeout); !ok {
		t.Fatalf("starlight %v and workers %v still run %s after its terminal went away", m, w, stopTimeout)
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "starlight: stopping gracefully") {
		t.Errorf("the log does not say starlight stopped gracefully:\n%s", log)
	}
	for _, bad := range []string{"reload started", "spawned (generation 2", "stopping now", "killed by"} {
		if strings.Contains(log, bad) {
			t.Errorf("the log says %q after the terminal went away:\n%s", bad, log)
		}
	}
	for _, pid := range workers {
		if !regexp.MustCompile(`starlight: worker ` + itoa(pid) + ` exited \(stop\)`).MatchString(log) {
			t.Errorf("worker %d did not exit on a graceful stop:\n%s", pid, log)
		}
	}
}

// An 80×24 terminal gets the whole dashboard: the header, the workers and
// the footer's help line.
func TestDashboardSmallTerminal(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 80, 24)
	pids, _ := d.servingPIDs(2)
	screen := d.waitScreen("the header, both workers and the footer", func(s string) bool {
		lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
		return len(lines) == 24 &&
			strings.Contains(lines[0], "✦ starlight") &&
			strings.Contains(lines[1], "http://"+d.addr+"/") &&
			strings.Contains(lines[2], "workers 2/2") &&
			strings.Contains(lines[23], "r reload") && strings.Contains(lines[23], "q quit") &&
			slices.Equal(rowPIDs(workerRows(s)), pids)
	})
	if strings.Contains(screen, "too small") {
		t.Errorf("80×24 is said to be too small:\n%s", screen)
	}
	for i, line := range strings.Split(screen, "\n") {
		if w := len([]rune(line)); w > 80 {
			t.Errorf("line %d is %d cells wide: %q", i+1, w, line)
		}
	}
	d.keys("q")
	if !poll(stopTimeout, func() bool { dead, _ := d.paneDead(); return dead }) {
		t.Fatalf("starlight still runs %s after q", stopTimeout)
	}
	if _, status := d.paneDead(); status != 0 {
		t.Errorf("after q starlight exited with status %d, want 0", status)
	}
	if masters, workers, ok := d.waitGone(reapTimeout); !ok {
		t.Errorf("after q: starlight %v and workers %v still run", masters, workers)
	}
}

// Started in the background of an interactive shell (`starlight ... &`),
// starlight runs headless: a dashboard there would get SIGTTOU and SIGTTIN
// from the terminal, taken as asking for fewer or more workers. With `stty
// tostop` (a background job may not write to the terminal) it serves and
// drops its log lines.
func TestBackgroundJobRunsHeadless(t *testing.T) {
	t.Parallel()
	for _, tostop := range []bool{false, true} {
		t.Run(fmt.Sprintf("tostop=%v", tostop), func(t *testing.T) {
			t.Parallel()
			d, _ := newDashboard(t)
			d.session("bg")
			d.tmuxOK("-f", d.conf, "new-session", "-d", "-s", d.name, "-x", "120", "-y", "40",
				"bash --norc --noprofile -i")
			line := shellJoin([]string{d.bin, "--workers", "2", "-l", d.addr, d.app}) + " &\n"
			if tostop {
				line = "stty tostop; " + line
			}
			d.keys(line)
			eventually(t, startTimeout, "the background job serves", func() bool {
				_, _, err := d.server.whoami(d.server.client)
				return err == nil
			})
			reReadyLine := regexp.MustCompile(`starlight: worker \d+ ready`)
			var screen string
			if tostop {
				// The master may note a worker ready just after it
				// served: watch the screen for a while.
				if poll(time.Second, func() bool {
					screen = d.screen()
					return reReadyLine.MatchString(screen)
				}) {
					t.Errorf("a background job wrote to a terminal with tostop set:\n%s", screen)
				}
			} else {
				screen = d.waitScreen("the headless log", reReadyLine.MatchString)
			}
			if strings.Contains(screen, "workers:") {
				t.Errorf("the worker count changed, without being asked:\n%s", screen)
			}
			masters, workers := d.procs()
			if len(masters) != 1 || len(workers) != 2 {
				t.Fatalf("%d masters and %d workers running, want 1 and 2", len(masters), len(workers))
			}
			for _, pid := range append(masters, workers...) {
				if p, ok := readProc(pid); !ok || p.state == 'T' {
					t.Errorf("process %d is stopped", pid)
				}
			}
			if err := syscall.Kill(masters[0], syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if m, w, ok := d.waitGone(stopTimeout); !ok {
				t.Errorf("after SIGTERM: starlight %v and workers %v still run", m, w)
			}
		})
	}
}

// Keys typed while the first build runs, before there is a dashboard to
// take them, are dropped: a q typed then does not quit the dashboard once
// it is up, nor does a + add a worker.
func TestKeysTypedBeforeDashboardDropped(t *testing.T) {
	t.Parallel()
	d, dir := newDashboard(t)
	a := newLiveApp(t, "v1-"+nonce())
	path, gate := gatedGo(t)
	d.session("typed")
	argv := append([]string{"env"}, liveEnv(a.tmp)...)
	argv = append(argv, path, d.bin, "--workers", "1", "-l", d.addr, a.dir)
	d.status = filepath.Join(dir, d.name+".status")
	d.tmuxOK("-f", d.conf, "new-session", "-d", "-s", d.name, "-x", "120", "-y", "40",
		shellJoin(argv)+"; echo $? >"+shellJoin([]string{d.status}))
	d.waitScreen("the first build", func(s string) bool { return strings.Contains(s, "building ") })
	d.keys("q+")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	d.waitScreen("the dashboard with its worker", func(s string) bool {
		return strings.Contains(s, "✦ starlight") && strings.Contains(s, "workers 1/1")
	})
	if _, _, err := d.server.whoami(d.server.client); err != nil {
		t.Fatalf("the dashboard is up but the server does not answer: %v", err)
	}
	if poll(liveQuiet, func() bool {
		dead, _ := d.paneDead()
		return dead || !strings.Contains(d.screen(), "workers 1/1")
	}) {
		t.Fatalf("the keys typed during the build were taken by the dashboard; its screen:\n%s", d.screen())
	}
	d.keys("q")
	if !poll(stopTimeout, func() bool { dead, _ := d.paneDead(); return dead }) {
		t.Fatalf("starlight still runs %s after q", stopTimeout)
	}
	if _, status := d.paneDead(); status != 0 {
		t.Errorf("after q starlight exited with status %d, want 0", status)
	}
}
