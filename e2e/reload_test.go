package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var reReplaced = regexp.MustCompile(`starlight: worker \d+ exited \(replaced by generation 2\)`)

// SIGHUP under steady load replaces every worker with generation 2 and no
// request fails, with keep-alive off and on.
func TestReloadUnderLoad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		keepAlive bool
	}{
		{"keepalive-off", false},
		{"keepalive-on", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"--workers", "3"}
			if tc.keepAlive {
				args = append(args, "--max-keepalive-reqs", "100")
			}
			s := start(t, options{args: args, ready: 3})
			before := map[int]bool{}
			for _, pid := range s.workers() {
				before[pid] = true
			}
			c := newClient(tc.keepAlive)
			defer c.CloseIdleConnections()

			r := newLoadResult()
			stop, loaded := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(loaded)
				// Stopped by stopLoad; the bounds only outlast the
				// waits below (5s + 5s + 15s + 5s).
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

			eventually(t, 5*time.Second, "50 requests made before the reload", func() bool { return r.requests.Load() >= 50 })
			s.signal(t, syscall.SIGHUP)
			s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: reload started \(SIGHUP\): generation 2`))
			s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload finished`))
			finished, atFinish := time.Now(), r.requests.Load()
			eventually(t, 5*time.Second, "load for 200ms and 20 requests after the reload", func() bool {
				return time.Since(finished) >= 200*time.Millisecond && r.requests.Load() >= atFinish+20
			})
			stopLoad()
			c.CloseIdleConnections()

			if n := r.errs.count(); n > 0 {
				t.Errorf("%d of %d requests failed during the reload:\n%s", n, r.requests.Load(), &r.errs)
			}
			r.mu.Lock()
			gens := fmt.Sprint(r.gens)
			newServed := r.gens["2"]
			r.mu.Unlock()
			if newServed == 0 {
				t.Errorf("no request under load was answered by generation 2: %s", gens)
			}
			t.Logf("%d requests under load, by generation: %s", r.requests.Load(), gens)

			// Each new worker is ready before an old one goes.
			readyNew, retired := 0, 0
			for _, line := range s.lines() {
				if m := reReady.FindStringSubmatch(line); m != nil && m[2] == "2" {
					readyNew++
				}
				if reReplaced.MatchString(line) {
					retired++
					if retired > readyNew {
						t.Errorf("old worker %d exited while %d new workers were ready: %s", retired, readyNew, line)
					}
				}
			}
			if retired != 3 {
				t.Errorf("%d old workers exited as replaced, want 3", retired)
			}

			eventually(t, 5*time.Second, "every old worker gone", func() bool {
				for pid := range before {
					if alive(pid) {
						return false
					}
				}
				return true
			})
			for i := range 30 {
				pid, gen, err := s.whoami(s.client)
				if err != nil {
					t.Fatalf("request %d after the reload: %v", i, err)
				}
				if before[pid] || gen != "2" {
					t.Fatalf("after the reload worker %d of generation %q answered; old workers %v", pid, gen, before)
				}
			}
			if got := s.workers(); len(got) != 3 {
				t.Errorf("workers after the reload: %v, want 3", got)
			}
			s.stop(t)
		})
	}
}

// APP an executable, deployed by renaming a new file over it: a reload
// whose new file cannot start is rolled back, and generation 1 goes on
// being respawned (recycled here after 3 requests) from its own file, not
// from the broken one. A good file then rolls out on the next reload.
func TestReloadRollbackKeepsTheOldExecutable(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2", "--max-reqs-per-child", "3"}, ready: 2})
	replace := func(content []byte) {
		t.Helper()
		tmp := s.appPath + ".new"
		if err := os.WriteFile(tmp, content, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, s.appPath); err != nil {
			t.Fatal(err)
		}
	}
	replace([]byte("#!/bin/sh\necho broken >&2\nexit 3\n"))
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload rolled back: .*; generation 1 keeps serving$`))
	pids := map[int]bool{}
	for i := range 30 {
		pid, gen, err := s.whoami(s.client)
		if err != nil || gen != "1" {
			t.Fatalf("request %d after the rollback: generation %q answered (%v), want 1", i, gen, err)
		}
		pids[pid] = true
	}
	if len(pids) < 10 {
		t.Errorf("%d workers answered 30 requests with a budget of 3: no recycling to test", len(pids))
	}
	if n := s.count(regexp.MustCompile(`crashed|exited before it was ready`)); n > 2 {
		t.Errorf("%d workers crashed or never got ready: generation 1 respawned from the broken file?", n)
	}
	// ps shows the app's path (the harness finds the workers by it) and
	// its name.
	eventually(t, startTimeout, "2 workers running "+s.appPath, func() bool { return len(s.workers()) == 2 })
	for _, pid := range s.workers() {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) != filepath.Base(s.appPath) {
			t.Errorf("worker %d is named %q, want %q", pid, strings.TrimSpace(string(comm)), filepath.Base(s.appPath))
		}
	}

	good, err := os.ReadFile(appBin)
	if err != nil {
		t.Fatal(err)
	}
	replace(good)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload finished: generation 3`))
	if _, gen, err := s.whoami(s.client); err != nil || gen != "3" {
		t.Errorf("after the good file's reload: generation %q answered (%v), want 3", gen, err)
	}
	s.stop(t)
}

// A reload whose new workers cannot start is rolled back: the old workers
// keep serving. Once the cause is gone, the next reload succeeds.
func TestReloadRollsBackWhenNewWorkersFail(t *testing.T) {
	t.Parallel()
	fail := filepath.Join(t.TempDir(), "fail")
	s := start(t, options{args: []string{"--workers", "2"}, env: []string{"TESTAPP_FAIL_FILE=" + fail}, ready: 2})
	before := s.workers()
	write(t, fail, "")
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload rolled back: .*generation 1 keeps serving`))
	if s.count(regexp.MustCompile(`starlight: reload finished`)) > 0 {
		t.Errorf("a reload finished though no new worker could start")
	}
	for range 10 {
		pid, gen, err := s.whoami(s.client)
		if err != nil || !slices.Contains(before, pid) || gen != "1" {
			t.Fatalf("after the rollback: worker %d of generation %q answered (%v); want one of %v", pid, gen, err, before)
		}
	}
	if got := s.workers(); !slices.Equal(got, before) {
		t.Errorf("workers after the rollback %v, want the old ones %v", got, before)
	}

	if err := os.Remove(fail); err != nil {
		t.Fatal(err)
	}
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 30*time.Second, regexp.MustCompile(`starlight: reload finished: generation 3`))
	eventually(t, 5*time.Second, "old workers gone", func() bool {
		return !slices.ContainsFunc(before, alive)
	})
	for range 10 {
		pid, gen, err := s.whoami(s.client)
		if err != nil || slices.Contains(before, pid) || gen != "3" {
			t.Fatalf("after the second reload: worker %d of generation %q answered (%v)", pid, gen, err)
		}
	}
	s.stop(t)
}

// A request in flight on an old worker during a reload completes.
func TestReloadLetsOldWorkersFinish(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "2"}, ready: 2})
	resc := slowRequest(t, s)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload finished`))
	// New connections reach generation 2 only, while the old worker
	// still runs its request.
	for range 10 {
		_, gen, err := s.whoami(s.client)
		if err != nil || gen != "2" {
			t.Fatalf("during the reload: generation %q answered (%v), want 2", gen, err)
		}
	}
	select {
	case r := <-resc:
		t.Fatalf("the request in flight ended (%d %v after %s) before generation 2 answered: nothing overlapped", r.code, r.err, r.took)
	default:
	}
	var r result
	select {
	case r = <-resc:
	case <-time.After(requestTimeout):
		t.Fatal("the request in flight never finished")
	}
	if r.err != nil || r.code != http.StatusOK || r.took < 2*time.Second {
		t.Errorf("request in flight during the reload: %d %q %v after %s", r.code, r.body, r.err, r.took)
	}
	s.waitPool(t, 2, startTimeout)
	s.stop(t)
}
