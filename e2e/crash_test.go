package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var (
	reNotReady = regexp.MustCompile(`starlight: worker \d+ exited before it was ready: exit status 1`)
	reBackoff  = regexp.MustCompile(`starlight: \d+ crashes in a row: next worker in \d`)
)

// An app whose workers all die before they are ready makes the master
// give up with status 1 after a few tries, not spin.
func TestAppThatCannotStart(t *testing.T) {
	t.Parallel()
	fail := filepath.Join(t.TempDir(), "fail")
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s := start(t, options{args: []string{"--workers", "3"}, env: []string{"TESTAPP_FAIL_FILE=" + fail}})
	if code := s.wait(t, 15*time.Second); code != 1 {
		t.Errorf("master exited with %s, want exit status 1", s.exitDesc)
	}
	s.assertNoWorkers(t)
	reWhy := regexp.MustCompile(`starlight: the app cannot start: .*\(last: exit status 1, after writing "failing at start"\); its output is above$`)
	if s.count(reWhy) == 0 {
		t.Errorf("no line says the app cannot start, with the last worker's words, matching %q", reWhy)
	}
	n := s.count(reNotReady)
	if n == 0 || n > 10 {
		t.Errorf("%d workers exited before they were ready, want 1 to 10", n)
	}
	// Every worker's stderr is shown, the last one's too, though the
	// master exits right after it.
	if said := s.count(regexp.MustCompile(`^failing at start$`)); said != n {
		t.Errorf("the workers' own stderr is shown %d times for %d workers", said, n)
	}
	if s.count(reReady) > 0 {
		t.Errorf("a worker was reported ready")
	}
}

// An app that cannot even be run (an executable whose interpreter is
// missing: every fork/exec fails) is given up on as one whose workers
// exit at start: status 1 with the reason, not retries for ever, and the
// same under -D, whose launcher says so. Under -D the log is discarded, so
// the reason goes to the launcher.
func TestAppThatCannotBeRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := filepath.Join(dir, "app")
	if err := os.WriteFile(app, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	reWhy := regexp.MustCompile(`the app cannot start: 5 workers in a row could not be started \(last: .*no such file or directory \(the file exists: its #! interpreter or its dynamic loader does not\)\)`)
	code, _, stderr := runStarlight(t, dir, "--quiet", "--workers", "2", "-l", "127.0.0.1:"+itoa(freePort(t)), app)
	if code != 1 || !reWhy.MatchString(stderr) {
		t.Errorf("starlight over an app that cannot be run: exit %d, want 1 with a line matching %s:\n%s", code, reWhy, stderr)
	}
	if strings.Contains(stderr, "5 crashes in a row") {
		t.Errorf("the log announces a sixth try as it gives up:\n%s", stderr)
	}
	pid := filepath.Join(dir, "daemon.pid")
	code, _, stderr = runStarlight(t, dir, "-D", "--pid", pid, "--workers", "2", "-l", "127.0.0.1:"+itoa(freePort(t)), app)
	if code != 1 || !reWhy.MatchString(stderr) {
		t.Errorf("-D over an app that cannot be run: exit %d, want 1 with a line matching %s:\n%s", code, reWhy, stderr)
	}
	eventually(t, stopTimeout, "the daemon's pid file removed", func() bool {
		_, err := os.Stat(pid)
		return os.IsNotExist(err)
	})
	// With --max-workers 0 the daemon execs the app in its own place:
	// the launcher learns that the exec failed.
	code, _, stderr = runStarlight(t, dir, "-D", "--pid", pid, "--max-workers", "0", "-l", "127.0.0.1:"+itoa(freePort(t)), app)
	if code != 1 || !strings.Contains(stderr, "starlight: daemon failed to start: exec "+app+": no such file or directory") {
		t.Errorf("-D --max-workers 0 over an app that cannot be run: exit %d, want 1 saying the exec failed:\n%s", code, stderr)
	}
	eventually(t, stopTimeout, "the daemon's pid file removed", func() bool {
		_, err := os.Stat(pid)
		return os.IsNotExist(err)
	})
}

// Workers that crash at start after the pool has served are respawned with
// a growing delay, and the pool recovers once the cause is gone.
func TestCrashLoopBacksOffAndRecovers(t *testing.T) {
	t.Parallel()
	fail := filepath.Join(t.TempDir(), "fail")
	s := start(t, options{args: []string{"--workers", "2"}, env: []string{"TESTAPP_FAIL_FILE=" + fail}, ready: 2})
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	killed := s.workers()
	for _, pid := range killed {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	// Watch the crash loop for 3 seconds: it must back off, not spin.
	window := time.Now().Add(3 * time.Second)
	spinning := false
	poll(4*time.Second, func() bool {
		if s.count(reNotReady) > 15 {
			spinning = true
			return true
		}
		return s.exited() || time.Now().After(window)
	})
	if s.exited() {
		t.Fatalf("the master exited (%s) though its workers had served", s.exitDesc)
	}
	n := s.count(reNotReady)
	if spinning {
		t.Fatalf("%d workers exited before they were ready within 3s: no backoff", n)
	}
	if n == 0 {
		t.Errorf("no worker exited before it was ready within 3s; the app should fail to start now")
	}
	if s.count(reBackoff) == 0 {
		t.Errorf("no line says the master backs off after crashes")
	}
	t.Logf("%d workers exited before they were ready in 3s", n)

	if err := os.Remove(fail); err != nil {
		t.Fatal(err)
	}
	// The backoff may have reached 6.4s by now.
	s.waitPool(t, 2, 20*time.Second)
	if _, _, err := s.whoami(s.client); err != nil {
		t.Errorf("after recovery: %v", err)
	}
	s.stop(t)
}
