package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/starlight-go/starlight/watcher"
)

// Live reload, headless (-r): every test serves a Go main package of its
// own from a temporary directory, edits it, and watches the master
// rebuild it and roll the new generation in.

const (
	liveStartTimeout  = 60 * time.Second // first build, listening, workers ready
	liveReloadTimeout = 45 * time.Second // an edit served: debounce, build, rollout
	liveQuiet         = 1500 * time.Millisecond
)

var (
	reReloadStarted  = regexp.MustCompile(`starlight: reload started \((.*)\): generation (\d+)`)
	reReloadFinished = regexp.MustCompile(`starlight: reload finished: generation (\d+)`)
	reGenBuilt       = regexp.MustCompile(`starlight: generation (\d+) built`)
)

// liveMainSource is the app: GET / answers the version, GET /pid the
// worker's pid and generation (as the test app does, for whoami). before
// is put at the start of main.
const liveMainSource = `package main

import (
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/starlight-go/starlight/httpserver"
)

const version = %q

func main() {
	%s
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, version)
	})
	mux.HandleFunc("GET /pid", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%%d %%s\n", os.Getpid(), os.Getenv("STARLIGHT_GENERATION"))
	})
	if err := httpserver.Serve(mux); err != nil {
		log.Fatal(err)
	}
}
`

// repoModule is what the app's go.mod needs from the repository's: its go
// version (a main module may not declare an older one than a dependency)
// and its requirements (so that the app's build finds every module the
// server's packages import without editing go.mod).
var repoModule = sync.OnceValues(func() (repoMod, error) {
	var m repoMod
	root, err := filepath.Abs("..")
	if err != nil {
		return m, err
	}
	m.Root = root
	cmd := exec.Command("go", "mod", "edit", "-json")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return m, fmt.Errorf("go mod edit -json in %s: %v", root, err)
	}
	if err := json.Unmarshal(out, &m); err != nil {
		return m, fmt.Errorf("go mod edit -json: %v", err)
	}
	return m, nil
})

type repoMod struct {
	Root    string
	Go      string
	Require []struct{ Path, Version string }
}

// liveApp is a copy of a small app's source in a directory of the test's
// own.
type liveApp struct {
	t   *testing.T
	dir string // the source: go.mod, go.sum, main.go
	tmp string // the master's TMPDIR: its build directory goes there
}

// newLiveApp writes the app, answering version, into a new temporary
// directory.
func newLiveApp(t *testing.T, version string) *liveApp {
	t.Helper()
	rm, err := repoModule()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	a := &liveApp{t: t, dir: filepath.Join(base, "reloadapp"), tmp: filepath.Join(base, "tmp")}
	for _, d := range []string{a.dir, a.tmp} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var mod strings.Builder
	fmt.Fprintf(&mod, "module reloadapp\n\ngo %s\n\nrequire github.com/starlight-go/starlight v0.0.0\n", rm.Go)
	if len(rm.Require) > 0 {
		mod.WriteString("\nrequire (\n")
		for _, r := range rm.Require {
			fmt.Fprintf(&mod, "\t%s %s // indirect\n", r.Path, r.Version)
		}
		mod.WriteString(")\n")
	}
	fmt.Fprintf(&mod, "\nreplace github.com/starlight-go/starlight => %s\n", rm.Root)
	write(t, filepath.Join(a.dir, "go.mod"), mod.String())
	sum, err := os.ReadFile(filepath.Join(rm.Root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(a.dir, "go.sum"), string(sum))
	a.writeMain(version, "")
	return a
}

// writeMain rewrites main.go in place to answer version, with before at
// the start of main.
func (a *liveApp) writeMain(version, before string) {
	a.t.Helper()
	a.write("main.go", fmt.Sprintf(liveMainSource, version, before))
}

// write writes a file of the app, creating its directory. It saves as
// most editors do, to a temporary file renamed over the old one: the
// watcher never sees the file truncated and not yet written (a loaded
// machine may stop the test for longer than the quiet period in between,
// and a build of the empty file would fail).
func (a *liveApp) write(rel, content string) {
	a.t.Helper()
	p := filepath.Join(a.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		a.t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".new")
	write(a.t, tmp, content)
	if err := os.Rename(tmp, p); err != nil {
		a.t.Fatal(err)
	}
}

// liveEnv is the environment of a master that builds the app: offline,
// never editing go.mod, never asking git (a test writes a bare .git), and
// with its build directory under the test's own temporary directory.
func liveEnv(tmp string) []string {
	return []string{
		"TMPDIR=" + tmp,
		"GOPROXY=off",
		"GOFLAGS=-mod=readonly -buildvcs=false",
		"GOTOOLCHAIN=local",
		"GOWORK=off",
	}
}

// startLive runs starlight -r (with args) over app, a source directory or
// an executable, and waits until workers of generation 1 are ready. At
// cleanup, after the harness has dealt with the master, it checks that
// no worker the master ever spawned and no process of its group (go
// build) is left.
func startLive(t *testing.T, app, tmp string, workers int, args ...string) *server {
	t.Helper()
	s := launchLive(t, app, tmp, workers, args...)
	livePool(t, s, workers, 1, liveStartTimeout)
	return s
}

// launchLive is startLive up to the master's first workers: it returns
// once the master listens, whether or not a worker is ready.
func launchLive(t *testing.T, app, tmp string, workers int, args ...string) *server {
	t.Helper()
	o := options{
		args: append([]string{"-r", "--workers", itoa(workers)}, args...),
		env:  liveEnv(tmp),
	}
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		var s *server
		t.Cleanup(func() {
			if s != nil {
				assertLiveGone(t, s)
			}
		})
		s = launch(t, app, port, o)
		poll(liveStartTimeout, func() bool { return s.exited() || reListening.MatchString(s.stderr.String()) })
		listening := reListening.MatchString(s.stderr.String())
		if s.exited() && !listening {
			if attempt < 3 && strings.Contains(s.stderr.String(), "address already in use") {
				t.Logf("port %d was taken meanwhile; trying another", port)
				continue
			}
			t.Fatalf("starlight exited before it listened (%s):\n%s", s.exitDesc, s.stderr)
		}
		if !listening {
			t.Fatalf("starlight does not listen after %s", liveStartTimeout)
		}
		return s
	}
}

// liveWorkers lists the master's live workers: its children in process
// groups of their own (go build runs in the master's group).
func liveWorkers(s *server) []int {
	var out []int
	for _, p := range listProcs() {
		if p.ppid == s.pid && p.pgrp == p.pid && p.state != 'Z' {
			out = append(out, p.pid)
		}
	}
	slices.Sort(out)
	return out
}

// livePool waits until exactly n workers run, all reported ready with
// generation gen, and returns their pids, sorted.
func livePool(t *testing.T, s *server, n, gen int, timeout time.Duration) []int {
	t.Helper()
	var pids []int
	ok := poll(timeout, func() bool {
		if s.exited() {
			return true
		}
		pids = liveWorkers(s)
		if len(pids) != n {
			return false
		}
		ready := map[int]bool{}
		for _, line := range s.lines() {
			if m := reReady.FindStringSubmatch(line); m != nil && atoi(m[2]) == gen {
				ready[atoi(m[1])] = true
			}
		}
		for _, pid := range pids {
			if !ready[pid] {
				return false
			}
		}
		return true
	})
	if s.exited() {
		t.Fatalf("master exited (%s) while waiting for %d ready workers of generation %d", s.exitDesc, n, gen)
	}
	if !ok {
		t.Fatalf("want %d ready workers of generation %d; after %s: workers %v", n, gen, timeout, pids)
	}
	return pids
}

// spawnedPIDs lists every worker the master's log says it spawned.
func spawnedPIDs(s *server) []int {
	var out []int
	for _, line := range s.lines() {
		if m := reSpawned.FindStringSubmatch(line); m != nil {
			out = append(out, atoi(m[1]))
		}
	}
	return out
}

// groupProcs lists the live processes of the master's process group other
// than the master.
func groupProcs(s *server) []int {
	var out []int
	for _, p := range listProcs() {
		if p.pgrp == s.pid && p.pid != s.pid && p.state != 'Z' {
			out = append(out, p.pid)
		}
	}
	return out
}

// assertLiveGone fails the test if, the master gone, a worker it spawned
// or a process of its group still runs; it kills them.
func assertLiveGone(t *testing.T, s *server) {
	t.Helper()
	if !s.exited() {
		return // the harness failed to stop it and said so
	}
	var left []int
	if !poll(reapTimeout, func() bool {
		left = slices.DeleteFunc(spawnedPIDs(s), func(pid int) bool { return !alive(pid) })
		left = append(left, groupProcs(s)...)
		return len(left) == 0
	}) {
		t.Errorf("processes of master %d left behind after it exited: %v", s.pid, left)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// stopLive stops the master gracefully and checks that it removed its
// build directory and, if clean, that no worker ever exited uncleanly.
func stopLive(t *testing.T, s *server, tmp string, clean bool) {
	t.Helper()
	s.stop(t)
	assertLiveGone(t, s)
	if clean {
		assertClean(t, s)
	}
	if builds := buildDirs(tmp); len(builds) > 0 {
		t.Errorf("build directories left after a graceful stop: %v", builds)
	}
}

// buildDirs lists the build directories of masters whose $TMPDIR is tmp.
func buildDirs(tmp string) []string {
	b, _ := filepath.Glob(filepath.Join(tmp, "starlight-build-*"))
	return b
}

var reUnclean = regexp.MustCompile(`starlight: worker \d+ (crashed|exit status|killed by|exited before|exited unexpectedly)|crashes in a row`)

// assertClean fails the test if a worker crashed or exited uncleanly:
// every worker a reload retires must exit as replaced.
func assertClean(t *testing.T, s *server) {
	t.Helper()
	for _, line := range s.lines() {
		if reUnclean.MatchString(line) {
			t.Errorf("a worker exited uncleanly: %s", line)
		}
	}
}

// body fetches GET / and returns the version it answers.
func body(s *server) (string, error) {
	code, b, err := s.get(s.client, "/")
	if err != nil {
		return "", err
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET /: status %d: %q", code, b)
	}
	return strings.TrimSpace(b), nil
}

// waitBody waits until GET / answers want and returns how long it took.
func waitBody(t *testing.T, s *server, want string, timeout time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	var got string
	var err error
	if !poll(timeout, func() bool {
		if s.exited() {
			return true
		}
		got, err = body(s)
		return err == nil && got == want
	}) || s.exited() {
		t.Fatalf("GET / does not answer %q after %s: last %q (%v); exited %v", want, timeout, got, err, s.exited())
	}
	return time.Since(t0)
}

// assertServes makes n requests and checks that every one answers
// version from a worker of generation gen among pids (if pids is not nil).
func assertServes(t *testing.T, s *server, n int, version string, gen int, pids []int) {
	t.Helper()
	for i := range n {
		got, err := body(s)
		if err != nil || got != version {
			t.Fatalf("request %d: GET / answered %q (%v), want %q", i, got, err, version)
		}
		pid, g, err := s.whoami(s.client)
		if err != nil || g != itoa(gen) || (pids != nil && !slices.Contains(pids, pid)) {
			t.Fatalf("request %d: worker %d of generation %q answered /pid (%v); want generation %d of %v", i, pid, g, err, gen, pids)
		}
	}
}

// noMore fails the test if a log line matching re beyond the first n
// shows up within liveQuiet.
func noMore(t *testing.T, s *server, re *regexp.Regexp, n int) {
	t.Helper()
	if poll(liveQuiet, func() bool { return s.count(re) > n }) {
		t.Errorf("%d log lines match %s, want %d", s.count(re), re, n)
	}
}

// nonce makes every version of every run unique, so that no build is
// served from the build cache.
func nonce() string { return fmt.Sprintf("%016x", rand.Uint64()) }

// hammer is a client loop that GETs / until halted, counting the
// versions it was answered and the failures.
type hammer struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	seen map[string]int
	n    int
	errs errList
}

func startHammer(s *server, clients, limit int, timeout time.Duration) *hammer {
	h := &hammer{stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]int{}}
	deadline := time.Now().Add(timeout)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				select {
				case <-h.stop:
					return
				default:
				}
				h.mu.Lock()
				if h.n >= limit {
					h.mu.Unlock()
					return
				}
				h.n++
				h.mu.Unlock()
				v, err := body(s)
				if err != nil {
					h.errs.add("%v", err)
					continue
				}
				h.mu.Lock()
				h.seen[v]++
				h.mu.Unlock()
			}
		})
	}
	go func() {
		wg.Wait()
		close(h.done)
	}()
	return h
}

func (h *hammer) count(version string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seen[version]
}

func (h *hammer) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// halt stops the clients and waits for them; it may be called again.
func (h *hammer) halt() {
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
}

// An edit is served within a build's time, with no failed request from a
// client running through the whole edit and rollout, and the log names
// the file that changed.
func TestLiveEditServedWithoutErrors(t *testing.T) {
	t.Parallel()
	v1, v2 := "v1-"+nonce(), "v2-"+nonce()
	a := newLiveApp(t, v1)
	s := startLive(t, a.dir, a.tmp, 2)
	before := liveWorkers(s)

	h := startHammer(s, 2, 100000, 2*liveReloadTimeout)
	defer h.halt()
	eventually(t, 10*time.Second, "20 requests answered before the edit", func() bool { return h.count(v1) >= 20 })

	edited := time.Now()
	a.writeMain(v2, "")
	eventually(t, liveReloadTimeout, "the client answered the new version", func() bool { return h.count(v2) > 0 })
	latency := time.Since(edited)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload finished: generation 2`))
	eventually(t, 10*time.Second, "the old workers gone", func() bool { return !slices.ContainsFunc(before, alive) })
	atEnd := h.requests()
	eventually(t, 10*time.Second, "20 more requests after the rollout", func() bool { return h.requests() >= atEnd+20 })
	h.halt()

	if n := h.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed during the edit and rollout:\n%s", n, h.requests(), &h.errs)
	}
	h.mu.Lock()
	for v, n := range h.seen {
		if v != v1 && v != v2 {
			t.Errorf("%d requests answered %q, neither version", n, v)
		}
	}
	t.Logf("edit served after %s; %d requests: %v", latency.Round(time.Millisecond), h.n, h.seen)
	h.mu.Unlock()

	if s.count(regexp.MustCompile(`starlight: reload started \(changed: main\.go\): generation 2`)) != 1 {
		t.Errorf("no log line says the reload started because main.go changed")
	}
	assertServes(t, s, 10, v2, 2, nil)
	stopLive(t, s, a.tmp, true)
}

// A build that fails leaves the old generation serving and logs the
// compiler's output; the next good edit is served.
func TestLiveBrokenBuildKeepsServing(t *testing.T) {
	t.Parallel()
	v1, v2, v3 := "v1-"+nonce(), "v2-"+nonce(), "v3-"+nonce()
	a := newLiveApp(t, v1)
	s := startLive(t, a.dir, a.tmp, 2)
	before := liveWorkers(s)

	a.writeMain(v2, "brokenCall()")
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: build of generation 2 failed; generation 1 keeps serving`))
	if !strings.Contains(s.stderr.String(), "undefined: brokenCall") {
		t.Errorf("the log does not show the compiler's output (undefined: brokenCall)")
	}
	assertServes(t, s, 10, v1, 1, before)
	if s.count(regexp.MustCompile(`spawned \(generation 2`)) > 0 {
		t.Errorf("a worker of the broken generation was spawned")
	}
	if got := liveWorkers(s); !slices.Equal(got, before) {
		t.Errorf("workers after the failed build %v, want %v", got, before)
	}

	a.writeMain(v3, "")
	took := waitBody(t, s, v3, liveReloadTimeout)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload finished: generation 3`))
	t.Logf("the fix was served after %s", took.Round(time.Millisecond))
	assertServes(t, s, 5, v3, 3, nil)
	stopLive(t, s, a.tmp, true)
}

// A burst of 20 saves, each within the watcher's quiet period (100 ms) of
// the one before, gives one build.
func TestLiveBurstOfSavesBuildsOnce(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	s := startLive(t, a.dir, a.tmp, 2)

	last := ""
	var gap time.Duration // the longest between two saves
	prev := time.Now()
	for i := range 20 {
		if i > 0 {
			gap = max(gap, time.Since(prev))
			prev = time.Now()
		}
		last = fmt.Sprintf("v2-%02d-%s", i, nonce())
		if i%2 == 0 {
			// Written in place.
			write(t, filepath.Join(a.dir, "main.go"), fmt.Sprintf(liveMainSource, last, ""))
			continue
		}
		a.writeMain(last, "") // a temporary file renamed over
	}
	if gap >= watcher.DefaultDebounce {
		// The machine stopped this test for longer than the quiet
		// period: a second build would be right.
		t.Skipf("%s between two saves, not within the watcher's quiet period (%s)", gap, watcher.DefaultDebounce)
	}

	s.waitLog(t, liveReloadTimeout, reReloadFinished)
	noMore(t, s, reReloadStarted, 1)
	if n := s.count(reGenBuilt); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
	assertServes(t, s, 5, last, 2, nil)
	stopLive(t, s, a.tmp, true)
}

// Writes to ignored paths start no build; the watcher still sees a real
// edit afterwards.
func TestLiveIgnoredPathsDoNotReload(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	s := startLive(t, a.dir, a.tmp, 2)

	for _, f := range []struct{ rel, content string }{
		{".git/x", "x\n"},
		{"foo_test.go", "package main\n\nimport \"testing\"\n\nfunc TestFoo(t *testing.T) {}\n"},
		{"vendor/x.go", "package x\n"},
		{"README.md", "# reloadapp\n"},
		{"main.go~", "package main\n"},
		{".main.go.swp", "swap\n"},
	} {
		a.write(f.rel, f.content)
	}
	if poll(liveQuiet, func() bool {
		return s.count(reReloadStarted) > 0 || strings.Contains(s.stderr.String(), "changed:")
	}) {
		t.Errorf("writes to ignored paths started a reload:\n%s", s.stderr)
	}

	v2 := "v2-" + nonce()
	a.writeMain(v2, "")
	waitBody(t, s, v2, liveReloadTimeout)
	s.waitLog(t, liveReloadTimeout, reReloadFinished)
	var why []string
	for _, line := range s.lines() {
		if m := reReloadStarted.FindStringSubmatch(line); m != nil {
			why = append(why, m[1])
		}
	}
	if !slices.Equal(why, []string{"changed: main.go"}) {
		t.Errorf("reloads started for %q, want one for main.go alone", why)
	}
	stopLive(t, s, a.tmp, true)
}

// heavySource is a file slow enough to compile (a second or more) that a
// second edit reliably lands while its build runs.
func heavySource(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "package main\n\n// %s\n\n", nonce())
	for i := range n {
		fmt.Fprintf(&b, "func heavy%d(x int) int { s := 0; for j := 0; j < x; j++ { s += j * %d ^ (s >> 3) }; return s }\n", i, i)
	}
	b.WriteString("\nvar heavy = []func(int) int{")
	for i := range n {
		fmt.Fprintf(&b, "heavy%d,", i)
	}
	b.WriteString("}\n")
	return b.String()
}

// A change during a build cancels it: only the newer version is built and
// rolled out.
// A master killed (SIGKILL) during a rebuild takes its go build with it:
// nothing builds on for nobody.
func TestLiveBuildDiesWithMaster(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	s := startLive(t, a.dir, a.tmp, 1)
	a.write("heavy.go", heavySource(3000))
	a.writeMain("v2-"+nonce(), "")
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload started \(.*\): generation 2`))
	var build []int
	if !poll(liveReloadTimeout, func() bool {
		build = build[:0]
		for _, p := range listProcs() {
			if p.ppid == s.pid && p.argv0 != s.appPath && filepath.Base(p.argv0) == "go" && p.state != 'Z' {
				build = append(build, p.pid)
			}
		}
		return len(build) > 0 || s.count(reGenBuilt) > 0
	}) || len(build) == 0 {
		t.Fatalf("no go build of generation 2 seen running (built already: %d)", s.count(reGenBuilt))
	}
	if err := syscall.Kill(s.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	s.wait(t, 5*time.Second)
	// Killed with it (its parent-death signal), not once it has built.
	if !poll(time.Second-time.Since(killed), func() bool { return !slices.ContainsFunc(build, alive) }) {
		t.Errorf("go build %v still runs 1s after its master was killed", build)
	}
	// Its compilers end on their own; the master's group is killed, as
	// a supervisor would, for the next tests.
	syscall.Kill(-s.pid, syscall.SIGKILL)
}

func TestLiveChangeCancelsBuildInFlight(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	s := startLive(t, a.dir, a.tmp, 2)

	v2, v3 := "v2-"+nonce(), "v3-"+nonce()
	a.write("heavy.go", heavySource(3000))
	a.writeMain(v2, "")
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload started \(.*\): generation 2`))
	first := time.Now()
	if s.count(reGenBuilt) > 0 {
		t.Fatalf("generation 2 was built before the second edit: its build was too quick to be cancelled")
	}
	a.write("heavy.go", "package main\n")
	a.writeMain(v3, "")
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload started \(.*\): generation 3`))
	gap := time.Since(first)
	if s.count(reGenBuilt) > 0 {
		t.Errorf("generation 2 was built before the second edit started a reload (%s after the first)", gap)
	}
	took := waitBody(t, s, v3, liveReloadTimeout)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload finished: generation 3`))
	t.Logf("second reload started %s after the first; v3 served %s later", gap.Round(time.Millisecond), took.Round(time.Millisecond))

	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`generation 2 built`),
		regexp.MustCompile(`spawned \(generation 2`),
		regexp.MustCompile(`reload finished: generation 2`),
	} {
		if n := s.count(re); n > 0 {
			t.Errorf("the cancelled build rolled out: %d log lines match %q", n, re)
		}
	}
	if s.count(regexp.MustCompile(`starlight: build of generation 2 cancelled: superseded by a newer change$`)) != 1 {
		t.Errorf("no log line says the build of generation 2 was cancelled")
	}
	assertServes(t, s, 5, v3, 3, nil)
	// The cancelled go build, and what it ran, are gone.
	var left []int
	if !poll(10*time.Second, func() bool { left = groupProcs(s); return len(left) == 0 }) {
		t.Errorf("build processes still run after both builds ended: %v", left)
	}
	noMore(t, s, reReloadStarted, 2)
	stopLive(t, s, a.tmp, true)
}

// A build whose workers exit before they are ready is rolled back: the
// same old workers keep serving the old version.
func TestLiveRollbackWhenNewWorkersExit(t *testing.T) {
	t.Parallel()
	v1 := "v1-" + nonce()
	a := newLiveApp(t, v1)
	s := startLive(t, a.dir, a.tmp, 2)
	before := liveWorkers(s)

	a.writeMain("v2-"+nonce(), `fmt.Fprintln(os.Stderr, "reloadapp: failing at start"); os.Exit(1)`)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload rolled back: .*generation 1 keeps serving`))
	if s.count(regexp.MustCompile(`starlight: generation 2 built`)) != 1 {
		t.Errorf("no log line says generation 2 was built")
	}
	if s.count(reReloadFinished) > 0 {
		t.Errorf("a reload finished though the new workers could not start")
	}
	eventually(t, 10*time.Second, "only the old workers run", func() bool { return slices.Equal(liveWorkers(s), before) })
	assertServes(t, s, 10, v1, 1, before)
	if got := liveWorkers(s); !slices.Equal(got, before) {
		t.Errorf("workers after the rollback %v, want the old ones %v", got, before)
	}
	stopLive(t, s, a.tmp, false)
	for _, pid := range before {
		if s.count(regexp.MustCompile(`starlight: worker `+itoa(pid)+` exited \(stop\) after \d+ requests?$`)) != 1 {
			t.Errorf("old worker %d did not exit cleanly on the stop", pid)
		}
	}
}

// An app that cannot start waits for a change, spawning nothing more: an
// edit that still exits at start is rolled back and a broken build fails,
// each saying the app still cannot start, and neither brings back a worker
// of the first generation; the fix is then served at once.
func TestLiveAppThatCannotStartServesOnceFixed(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	exit := `fmt.Fprintln(os.Stderr, "reloadapp: failing at start"); os.Exit(1)`
	a.writeMain("v1-"+nonce(), exit)
	s := launchLive(t, a.dir, a.tmp, 2)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: the app cannot start: 5 workers in a row exited before they were ready .*; waiting for a change$`))
	reGen1 := regexp.MustCompile(`starlight: worker \d+ spawned \(generation 1,`)
	gen1 := s.count(reGen1)

	a.writeMain("v2-"+nonce(), exit)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload rolled back: 2 workers of generation 2 exited before they were ready .*; the app still cannot start; waiting for a change$`))
	a.writeMain("v3-"+nonce(), "brokenCall()")
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: build of generation 3 failed; the app still cannot start; waiting for a change: `))

	v4 := "v4-" + nonce()
	a.writeMain(v4, "")
	took := waitBody(t, s, v4, liveReloadTimeout)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload finished: generation 4 serves on every worker`))
	t.Logf("the fix was served after %s", took.Round(time.Millisecond))
	assertServes(t, s, 5, v4, 4, nil)
	if n := s.count(reGen1); n != gen1 {
		t.Errorf("%d workers of generation 1 spawned after the app was found unable to start", n-gen1)
	}
	stopLive(t, s, a.tmp, false)
}

// With an executable for APP, replacing the file reloads it.
func TestLiveExecutableReplaced(t *testing.T) {
	t.Parallel()
	v1, v2 := "v1-"+nonce(), "v2-"+nonce()
	a := newLiveApp(t, v1)
	bin := filepath.Join(t.TempDir(), "app-binary")
	build := func(out string) {
		t.Helper()
		cmd := exec.Command("go", "build", "-o", out, ".")
		cmd.Dir = a.dir
		cmd.Env = childEnv(liveEnv(a.tmp)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
	}
	build(bin)
	s := startLive(t, bin, a.tmp, 2)
	assertServes(t, s, 3, v1, 1, nil)

	a.writeMain(v2, "") // not watched: the binary is
	build(bin + ".new")
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	took := waitBody(t, s, v2, liveReloadTimeout)
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload finished: generation 2`))
	t.Logf("the new binary was served after %s", took.Round(time.Millisecond))
	if s.count(regexp.MustCompile(`starlight: reload started \(changed: .*app-binary\): generation 2`)) != 1 {
		t.Errorf("no log line says the reload started because app-binary changed")
	}
	noMore(t, s, reReloadStarted, 1)
	assertServes(t, s, 5, v2, 2, nil)
	stopLive(t, s, a.tmp, true)
}

// --reload-ext picks the files that count, and --reload-ignore adds
// patterns to ignore.
func TestLiveReloadExtAndIgnore(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	s := startLive(t, a.dir, a.tmp, 1, "--reload-ext", ".go,.tmpl", "--reload-ignore", "gen_*.go")
	a.write("gen_table.go", "package main\n")
	a.write("notes.txt", "not a listed extension\n")
	if poll(liveQuiet, func() bool { return s.count(reReloadStarted) > 0 }) {
		t.Errorf("a write to an ignored pattern or an unlisted extension started a reload:\n%s", s.stderr)
	}
	a.write("page.tmpl", "<p>{{.}}</p>\n")
	s.waitLog(t, liveReloadTimeout, regexp.MustCompile(`starlight: reload started \(changed: page\.tmpl\)`))
	s.waitLog(t, liveReloadTimeout, reReloadFinished)
	stopLive(t, s, a.tmp, true)
}
