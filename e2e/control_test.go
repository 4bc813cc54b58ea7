package e2e

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/control"
)

// The control socket and its clients: starlight status, ctl and attach
// against a running headless master.

// statusDoc is the part of `starlight status --json` the tests read.
type statusDoc struct {
	Schema     int    `json:"schema"`
	PID        int    `json:"pid"`
	Dir        string `json:"dir"`
	Generation int    `json:"generation"`
	Target     int    `json:"target_workers"`
	Workers    []struct {
		PID        int    `json:"pid"`
		Generation int    `json:"generation"`
		State      string `json:"state"`
		Requests   uint64 `json:"requests"`
		RSS        uint64 `json:"rss_bytes"`
	} `json:"workers"`
	Totals struct {
		Requests uint64 `json:"requests"`
	} `json:"totals"`
}

// status runs starlight status --json with args and decodes it.
func statusJSON(t *testing.T, dir string, args ...string) statusDoc {
	t.Helper()
	code, out, errOut := runStarlight(t, dir, append([]string{"status", "--json"}, args...)...)
	if code != 0 {
		t.Fatalf("starlight status %v: exit %d\n%s", args, code, errOut)
	}
	var d statusDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("starlight status --json: %v\n%s", err, out)
	}
	return d
}

func (d statusDoc) pids() []int {
	var out []int
	for _, w := range d.Workers {
		out = append(out, w.PID)
	}
	slices.Sort(out)
	return out
}

// status --json lists exactly the workers /proc shows, by --pid, by
// --control and by the directory the server was started from; the human
// form fits 80 columns; the socket is 0600 and goes with the server.
func TestStatusListsServingWorkers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	home := filepath.Join(dir, "project")
	sub := filepath.Join(home, "sub")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "sl.pid")
	app := testApp(t)
	port := freePort(t)
	// Started from home, as a shell script would start it.
	argv := []string{"/bin/sh", "-c", `cd "$1" && shift && exec "$@"`, "sh", home,
		starlightBin, "--workers", "3", "--pid", pidFile, "-l", "127.0.0.1:" + itoa(port), app}
	s := startArgv(t, app, argv, nil)
	s.port, s.addr = port, "127.0.0.1:"+itoa(port)
	pids := s.waitPool(t, 3, startTimeout)
	slices.Sort(pids)
	// The default place, for root or a user, and FILE.sock beside --pid.
	ctlPath := control.DefaultPath(os.Geteuid(), s.pid)

	for _, sock := range []string{ctlPath, pidFile + ".sock"} {
		st, err := os.Lstat(sock)
		if err != nil {
			t.Fatalf("control socket: %v", err)
		}
		if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want a socket of mode 0600", sock, st.Mode())
		}
	}
	for i := range 5 {
		mustFetch(t, s.client, "http://"+s.addr+"/pid")
		_ = i
	}
	for _, args := range [][]string{{"--pid", pidFile}, {"--control", ctlPath}} {
		d := statusJSON(t, dir, args...)
		if d.Schema != 1 || d.PID != s.pid || d.Target != 3 || d.Generation != 1 {
			t.Errorf("status %v: schema %d pid %d target %d generation %d; want 1 %d 3 1", args, d.Schema, d.PID, d.Target, d.Generation, s.pid)
		}
		if got := d.pids(); !slices.Equal(got, pids) {
			t.Errorf("status %v lists workers %v; /proc shows %v", args, got, pids)
		}
		if d.Totals.Requests != 5 {
			t.Errorf("status %v: %d requests, want 5", args, d.Totals.Requests)
		}
		for _, w := range d.Workers {
			if w.State != "idle" || w.RSS == 0 || w.Generation != 1 {
				t.Errorf("worker %+v: want idle, generation 1, an RSS", w)
			}
		}
	}
	// With no flag: the server started from this directory or above.
	for _, from := range []string{home, sub} {
		if d := statusJSON(t, from); d.PID != s.pid || d.Dir != home {
			t.Errorf("status from %s found pid %d started in %s; want %d in %s", from, d.PID, d.Dir, s.pid, home)
		}
	}
	code, out, errOut := runStarlight(t, dir, "status", "--pid", pidFile)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := len([]rune(l)); n > 80 {
			t.Errorf("status line of %d columns: %q", n, l)
		}
	}
	for _, pid := range pids {
		if !strings.Contains(out, " "+itoa(pid)+" ") {
			t.Errorf("status does not show worker %d:\n%s", pid, out)
		}
	}
	s.waitLog(t, time.Second, regexp.MustCompile(`serving .*; control `+regexp.QuoteMeta(ctlPath)+` `+regexp.QuoteMeta(pidFile+".sock")))

	s.stop(t)
	for _, sock := range []string{ctlPath, pidFile + ".sock"} {
		if exists(sock) {
			t.Errorf("%s left after the stop", sock)
		}
	}
	if code, _, errOut := runStarlight(t, dir, "status", "--control", ctlPath); code != 1 || !strings.Contains(errOut, "no such socket") {
		t.Errorf("status of a stopped server: exit %d, %q; want 1 and no such socket", code, errOut)
	}
}

// ctl reload under load replaces every worker with no failed request, and
// exits 0 once the new generation serves everywhere.
func TestCtlReloadUnderLoad(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "sl.pid")
	s := start(t, options{args: []string{"--quiet", "--workers", "3", "--pid", pidFile}, ready: 3})
	before := s.workers()
	c := newClient(false)
	defer c.CloseIdleConnections()
	r := newLoadResult()
	stop, loaded := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(loaded)
		r.run(s, c, 4, 200000, 40*time.Second, func(*loadResult) bool {
			select {
			case <-stop:
				return true
			default:
				return false
			}
		})
	}()
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			<-loaded
		}
	}
	defer stopLoad()
	eventually(t, 5*time.Second, "50 requests before the reload", func() bool { return r.requests.Load() >= 50 })

	code, out, errOut := runStarlight(t, "", "ctl", "--pid", pidFile, "reload")
	if code != 0 {
		t.Fatalf("ctl reload: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "reload finished: generation 2 serves on every worker") {
		t.Errorf("ctl reload said:\n%s", out)
	}
	// Exited 0: every worker is of generation 2 now, none of before.
	d := statusJSON(t, "", "--pid", pidFile)
	for _, w := range d.Workers {
		if w.Generation != 2 || slices.Contains(before, w.PID) {
			t.Errorf("after ctl reload: worker %d of generation %d (old workers %v)", w.PID, w.Generation, before)
		}
	}
	atExit := r.requests.Load()
	eventually(t, 5*time.Second, "20 requests after the reload", func() bool { return r.requests.Load() >= atExit+20 })
	stopLoad()
	if n := r.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed during ctl reload:\n%s", n, r.requests.Load(), &r.errs)
	}
	t.Logf("%d requests under load", r.requests.Load())
	s.stop(t)
}

// ctl reload exits 1 naming the reason when the new generation cannot
// start; the old one keeps serving.
func TestCtlReloadRollsBack(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fail, pidFile := filepath.Join(dir, "fail"), filepath.Join(dir, "sl.pid")
	s := start(t, options{args: []string{"--quiet", "--workers", "2", "--pid", pidFile}, env: []string{"TESTAPP_FAIL_FILE=" + fail}, ready: 2})
	before := s.workers()
	slices.Sort(before)
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runStarlight(t, "", "ctl", "--pid", pidFile, "reload")
	if code != 1 || !strings.Contains(errOut, "reload rolled back") || !strings.Contains(errOut, "generation 1 keeps serving") {
		t.Fatalf("ctl reload of a crashing build: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("ctl reload: %s", strings.TrimSpace(errOut))
	eventually(t, 5*time.Second, "the old workers alone", func() bool {
		now := s.workers()
		slices.Sort(now)
		return slices.Equal(now, before)
	})
	if _, _, err := s.whoami(s.client); err != nil {
		t.Errorf("after the rollback: %v", err)
	}
	s.stop(t)
}

// ctl scale sets the pool's size and exits once as many workers serve;
// ctl stop exits once the server is gone.
func TestCtlScaleAndStop(t *testing.T) {
	t.Parallel()
	ctlPath := filepath.Join(t.TempDir(), "c.sock")
	s := start(t, options{args: []string{"--quiet", "--workers", "2", "--control", ctlPath}, ready: 2})
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"scale", "4"}, 4},
		{[]string{"scale", "-1"}, 3},
		{[]string{"scale", "+1"}, 4},
		{[]string{"scale", "1"}, 1},
	} {
		code, out, errOut := runStarlight(t, "", append([]string{"ctl", "--control", ctlPath}, tc.args...)...)
		if code != 0 {
			t.Fatalf("ctl %v: exit %d\n%s%s", tc.args, code, out, errOut)
		}
		d := statusJSON(t, "", "--control", ctlPath)
		serving := 0
		for _, w := range d.Workers {
			if w.State == "idle" || w.State == "busy" {
				serving++
			}
		}
		if d.Target != tc.want || serving != tc.want {
			t.Errorf("after ctl %v: target %d, %d serving; want %d", tc.args, d.Target, serving, tc.want)
		}
	}
	if code, _, errOut := runStarlight(t, "", "ctl", "--control", ctlPath, "scale", "0"); code != 1 || !strings.Contains(errOut, "keeps 1 workers") {
		t.Errorf("ctl scale 0: exit %d, %q; want 1", code, errOut)
	}
	if code, _, errOut := runStarlight(t, "", "ctl", "--control", ctlPath, "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown action") {
		t.Errorf("ctl frobnicate: exit %d, %q; want 2", code, errOut)
	}
	code, out, errOut := runStarlight(t, "", "ctl", "--control", ctlPath, "stop")
	if code != 0 {
		t.Fatalf("ctl stop: exit %d\n%s%s", code, out, errOut)
	}
	if !s.exited() {
		select {
		case <-s.done:
		case <-time.After(time.Second):
			t.Errorf("ctl stop returned and the master runs on")
		}
	}
	s.assertNoWorkers(t)
}

// A peer whose uid is neither the server's nor root's is refused, even
// when the socket's mode would let it connect.
func TestControlRefusesOtherUID(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user")
	}
	dir := sharedDir(t, "starlight-ctl-uid-")
	ctlPath := filepath.Join(dir, "c.sock")
	bin := filepath.Join(dir, "starlight")
	copyExecutable(t, starlightBin, bin)
	start(t, options{args: []string{"--quiet", "--workers", "1", "--control", ctlPath}, ready: 1})
	if err := os.Chmod(ctlPath, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "status", "--control", ctlPath)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "refused: uid 65534") {
		t.Errorf("status as uid 65534: %v\n%s", err, out)
	}
	if d := statusJSON(t, "", "--control", ctlPath); len(d.Workers) != 1 {
		t.Errorf("status as root after the refusal: %+v", d)
	}
}

// Clients that send garbage, a 100 MB frame, or nothing at all, and one
// that asks for everything and never reads, neither delay the master's
// handling of a TTIN nor stop it from serving other clients.
func TestControlBadClientsDoNotDelayMaster(t *testing.T) {
	t.Parallel()
	ctlPath := filepath.Join(t.TempDir(), "c.sock")
	s := start(t, options{args: []string{"--quiet", "--workers", "1", "--control", ctlPath}, ready: 1})
	dial := func() *net.UnixConn {
		c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: ctlPath, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	hello := `{"protocol":"starlight-control","version":1}` + "\n"
	// A client of another protocol version is told so, in the server's
	// own version's terms.
	other := dial()
	other.Write([]byte(`{"protocol":"starlight-control","version":99,"starlight":"9.9"}` + "\n"))
	other.SetReadDeadline(time.Now().Add(5 * time.Second))
	var answer control.Hello
	if err := control.NewReader(other).Read(&answer); err != nil {
		t.Fatalf("hello of version 99: %v", err)
	}
	if answer.Version != control.Version || !strings.Contains(answer.Error, "version 99 (starlight 9.9)") {
		t.Errorf("hello of version 99 answered %+v", answer)
	}
	silent := dial()
	_ = silent
	garbage := dial()
	garbage.Write([]byte("\x00\xffGET / HTTP/1.1\r\n\r\n{{{{\n"))
	huge := dial()
	go func() {
		huge.Write([]byte(hello))
		chunk := make([]byte, 1<<20)
		for i := range chunk {
			chunk[i] = 'x'
		}
		huge.Write([]byte(`{"op":"`))
		for range 100 {
			if _, err := huge.Write(chunk); err != nil {
				return
			}
		}
	}()
	stalled := dial()
	stalled.SetReadBuffer(4096)
	stalled.Write([]byte(hello + `{"op":"watch","history":true}` + "\n"))
	// Flood the log the stalled client watches: far more lines than its
	// queue and its socket hold (10,000 lines of 100 bytes; not so much
	// that the master's own log, which the test reads, drops lines).
	for range 2 {
		mustFetch(t, s.client, "http://"+s.addr+"/log?n=5000&size=100")
	}

	for round := range 3 {
		n := len(s.workers())
		sent := time.Now()
		s.signal(t, syscall.SIGTTIN)
		// When the master acted, by its log's clock (the log itself
		// may lag behind the flood).
		reScaled := regexp.MustCompile(`starlight: workers: ` + itoa(n+1) + `$`)
		s.waitLogN(t, 10*time.Second, reScaled, 1)
		for _, l := range s.lines() {
			if reScaled.MatchString(l) {
				at, ok := stampOf(l)
				if took := at.Sub(sent); !ok || took > 500*time.Millisecond {
					t.Errorf("round %d: TTIN handled %v after it was sent: %s", round, took, l)
				}
			}
		}
		s.waitPool(t, n+1, startTimeout)
	}
	// The client that never read was dropped, and said so.
	s.waitLog(t, 10*time.Second, regexp.MustCompile(`control socket: dropped a client that did not keep up`))
	if d := statusJSON(t, "", "--control", ctlPath); len(d.Workers) != 4 {
		t.Errorf("status with bad clients connected: %d workers, want 4", len(d.Workers))
	}
	s.stop(t)
}

// With two servers started from one directory, status names neither and
// lists both; a server with --control none has no socket and is not
// listed.
func TestStatusAsksWhenAmbiguous(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	var servers []*server
	for _, extra := range [][]string{nil, nil, {"--control", "none", "--pid", filepath.Join(home, "c.pid")}} {
		app := testApp(t) // one each: a stop checks that its workers are gone
		port := freePort(t)
		argv := append([]string{"/bin/sh", "-c", `cd "$1" && shift && exec "$@"`, "sh", home,
			starlightBin, "--workers", "1", "-l", "127.0.0.1:" + itoa(port)}, extra...)
		s := startArgv(t, app, append(argv, app), nil)
		s.port, s.addr = port, "127.0.0.1:"+itoa(port)
		s.waitPool(t, 1, startTimeout)
		servers = append(servers, s)
	}
	a, b, c := servers[0], servers[1], servers[2]
	code, out, errOut := runStarlight(t, home, "status")
	if code != 1 || !strings.Contains(errOut, "more than one server started from "+home) {
		t.Errorf("status among two servers: exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []*server{a, b} {
		if !strings.Contains(errOut, "pid "+itoa(s.pid)) || !strings.Contains(errOut, control.DefaultPath(os.Geteuid(), s.pid)) {
			t.Errorf("status does not list server %d:\n%s", s.pid, errOut)
		}
	}
	if strings.Contains(errOut, "pid "+itoa(c.pid)) || exists(filepath.Join(home, "c.pid.sock")) || exists(control.DefaultPath(os.Geteuid(), c.pid)) {
		t.Errorf("a server with --control none has a socket:\n%s", errOut)
	}
	if strings.Contains(strings.Join(c.lines(), "\n"), "; control ") {
		t.Errorf("the banner of a server with --control none names a socket")
	}
	a.stop(t)
	if d := statusJSON(t, home); d.PID != b.pid {
		t.Errorf("with one server left, status found %d, want %d", d.PID, b.pid)
	}
}

// Run as root with --user, the master's default control socket is the
// user's, mode 0600, and root's status and ctl reach it; the socket the
// master could not remove from root's /run/starlight at exit goes with
// the next status.
func TestControlSocketUnderUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root for --user")
	}
	uid, ok := lookupEtc("/etc/passwd", "nobody")
	if !ok {
		t.Skip("no user nobody")
	}
	base := sharedDir(t, "starlight-ctl-user-")
	app := filepath.Join(base, "app")
	copyExecutable(t, appBin, app)
	port := freePort(t)
	s := startArgv(t, app, []string{starlightBin, "--quiet", "--workers", "1", "--user", "nobody",
		"-l", "127.0.0.1:" + itoa(port), app}, nil)
	s.port, s.addr = port, "127.0.0.1:"+itoa(port)
	s.waitPool(t, 1, startTimeout)
	sock := control.DefaultPath(0, s.pid)
	st, err := os.Lstat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if owner := int(st.Sys().(*syscall.Stat_t).Uid); owner != uid || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: owner %d mode %v; want nobody's (%d), 0600", sock, owner, st.Mode().Perm(), uid)
	}
	if d := statusJSON(t, "", "--control", sock); d.PID != s.pid || len(d.Workers) != 1 {
		t.Errorf("status as root: %+v", d)
	}
	if code, out, errOut := runStarlight(t, "", "ctl", "--control", sock, "stop"); code != 0 {
		t.Fatalf("ctl stop: exit %d\n%s%s", code, out, errOut)
	}
	<-s.done
	if exists(sock) {
		runStarlight(t, "", "status") // finds nothing of ours; clears what is stale
		if exists(sock) {
			t.Errorf("%s is left after the master stopped and status ran", sock)
		}
	}
}
