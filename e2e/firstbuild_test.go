package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// gatedGo puts a go command first on PATH that runs the real one only once
// the file gate exists, so that the master's first build lasts until the
// test opens the gate. It returns the PATH setting and the gate's path.
func gatedGo(t *testing.T) (pathEnv, gate string) {
	t.Helper()
	real, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gate = filepath.Join(dir, "gate")
	// At most a minute; a SIGINT or SIGTERM (the master cancelling the
	// build) ends the wait.
	script := fmt.Sprintf(`#!/bin/sh
trap 'exit 130' INT TERM
i=0
while [ ! -e %q ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
exec %q "$@"
`, gate, real)
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + dir + ":" + os.Getenv("PATH"), gate
}

var reBuilding = regexp.MustCompile(`starlight: building `)

// startBuilding starts starlight over a source directory and waits until
// its first build, held by a gated go command, has begun.
func startBuilding(t *testing.T, workers int) (s *server, a *liveApp, gate string) {
	t.Helper()
	a = newLiveApp(t, "v1-"+nonce())
	path, gate := gatedGo(t)
	s = launch(t, a.dir, freePort(t), options{
		args: []string{"--workers", itoa(workers)},
		env:  append(liveEnv(a.tmp), path),
	})
	t.Cleanup(func() { assertLiveGone(t, s) })
	eventually(t, startTimeout, "the first build runs", func() bool {
		return reBuilding.MatchString(s.stderr.String()) && len(groupProcs(s)) > 0
	})
	return s, a, gate
}

// A stop during the first build cancels it: the master exits 0 at once,
// says so, starts no worker and leaves no build directory or go command
// behind. Ctrl+C in a terminal signals the whole process group, go build
// included.
func TestStopDuringFirstBuild(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		sig   syscall.Signal
		name  string
		group bool
	}{
		{syscall.SIGTERM, "SIGTERM", false},
		{syscall.SIGQUIT, "SIGQUIT", false},
		{syscall.SIGINT, "SIGINT", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, a, _ := startBuilding(t, 2)
			target := s.pid
			if tc.group {
				target = -s.pid
			}
			if err := syscall.Kill(target, tc.sig); err != nil {
				t.Fatal(err)
			}
			if code := s.wait(t, stopTimeout); code != 0 {
				t.Errorf("exit status %d (%s), want 0", code, s.exitDesc)
			}
			if want := "starlight: stopped by " + tc.name + " before serving"; !strings.Contains(s.stderr.String(), want) {
				t.Errorf("output does not say %q:\n%s", want, s.stderr)
			}
			if strings.Contains(s.stderr.String(), "spawned") {
				t.Errorf("workers spawned after the stop:\n%s", s.stderr)
			}
			assertLiveGone(t, s)
			if builds := buildDirs(a.tmp); len(builds) > 0 {
				t.Errorf("build directories left: %v", builds)
			}
		})
	}
}

// SIGTTIN during the first build neither stops the process (the default
// action of an untrapped SIGTTIN) nor is lost: the master serves with one
// worker more once the build is done.
func TestScaleSignalDuringFirstBuild(t *testing.T) {
	t.Parallel()
	s, a, gate := startBuilding(t, 2)
	s.signal(t, syscall.SIGTTIN)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	livePool(t, s, 3, 1, liveStartTimeout)
	s.waitLog(t, startTimeout, regexp.MustCompile(`starlight: workers: 3`))
	if p, ok := readProc(s.pid); !ok || p.state == 'T' {
		t.Fatalf("master %d is stopped (state %q)", s.pid, p.state)
	}
	stopLive(t, s, a.tmp, true)
}

// A master killed with SIGKILL leaves its build directory; the next one
// started with the same $TMPDIR removes it, and never one in use.
func TestBuildDirOfKilledMasterSwept(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	killed := startLive(t, a.dir, a.tmp, 1)
	running := startLive(t, a.dir, a.tmp, 1)
	if n := len(buildDirs(a.tmp)); n != 2 {
		t.Fatalf("%d build directories for 2 masters: %v", n, buildDirs(a.tmp))
	}
	syscall.Kill(-killed.pid, syscall.SIGKILL)
	killed.wait(t, stopTimeout)
	if n := len(buildDirs(a.tmp)); n != 2 {
		t.Fatalf("%d build directories after a SIGKILL, want the killed master's left: %v", n, buildDirs(a.tmp))
	}

	next := startLive(t, a.dir, a.tmp, 1)
	next.waitLog(t, startTimeout, regexp.MustCompile(`starlight: removed build directories that killed masters left in .*: 1$`))
	if n := len(buildDirs(a.tmp)); n != 2 {
		t.Errorf("%d build directories for 2 running masters: %v", n, buildDirs(a.tmp))
	}
	for _, s := range []*server{running, next} {
		if body, err := body(s); err != nil || !strings.HasPrefix(body, "v1-") {
			t.Errorf("master %d: GET / %q, %v", s.pid, body, err)
		}
	}
	next.stop(t)
	assertLiveGone(t, next)
	stopLive(t, running, a.tmp, true) // and no directory is left

}

// With --max-workers 0 the app, exec'd in the master's place, keeps its
// build directory locked: another master's sweep leaves it alone, and the
// app removes it when it exits.
func TestBuildDirKeptByAppServingAlone(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	alone := launch(t, a.dir, freePort(t), options{args: []string{"--workers", "0"}, env: liveEnv(a.tmp)})
	eventually(t, liveStartTimeout, "the app serves alone", func() bool {
		b, err := body(alone)
		return err == nil && strings.HasPrefix(b, "v1-")
	})
	pool := startLive(t, a.dir, a.tmp, 1)
	if n := len(buildDirs(a.tmp)); n != 2 {
		t.Fatalf("%d build directories for 2 running servers, want 2: %v", n, buildDirs(a.tmp))
	}
	if pool.count(regexp.MustCompile(`removed build directories`)) > 0 {
		t.Errorf("the second master swept a directory:\n%s", pool.stderr)
	}
	if b, err := body(alone); err != nil || !strings.HasPrefix(b, "v1-") {
		t.Errorf("the app serving alone, after the second master started: %q, %v", b, err)
	}

	alone.signal(t, syscall.SIGTERM)
	if code := alone.wait(t, stopTimeout); code != 0 {
		t.Errorf("the app serving alone exited with %s after SIGTERM", alone.exitDesc)
	}
	if n := len(buildDirs(a.tmp)); n != 1 {
		t.Errorf("%d build directories once the app serving alone exited, want the pool's alone: %v", n, buildDirs(a.tmp))
	}
	stopLive(t, pool, a.tmp, true)
}

// A stop sent to the master alone (systemd, kill) during a real go build:
// the compilers go build started stop too, and neither they nor go build
// leave files in $TMPDIR.
func TestStopDuringRealBuild(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	a.write("heavy.go", heavySource(3000))
	s := launch(t, a.dir, freePort(t), options{args: []string{"--workers", "1"}, env: liveEnv(a.tmp)})
	t.Cleanup(func() { assertLiveGone(t, s) })
	eventually(t, liveStartTimeout, "go build runs a compiler", func() bool {
		for _, pid := range groupProcs(s) {
			if p, ok := readProc(pid); ok && strings.HasSuffix(p.argv0, "/compile") {
				return true
			}
		}
		return s.exited()
	})
	if s.exited() || s.count(reBuilding) != 1 || reListening.MatchString(s.stderr.String()) {
		t.Fatalf("the build was over before the stop:\n%s", s.stderr)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, stopTimeout); code != 0 {
		t.Errorf("exit status %d (%s), want 0", code, s.exitDesc)
	}
	assertLiveGone(t, s)
	if left, _ := os.ReadDir(a.tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("left in $TMPDIR: %v", names)
	}
}
