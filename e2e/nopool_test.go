package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// --max-workers 0 (the app execs in starlight's place) under -D and under
// systemd's notify socket: the launcher still learns that it serves, and
// systemd gets READY=1.
func TestProdNoPool(t *testing.T) {
	t.Parallel()
	t.Run("daemon", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "d.pid")
		errLog := filepath.Join(dir, "d.log")
		addr := "127.0.0.1:" + itoa(freePort(t))
		app := testApp(t)
		t.Cleanup(func() { assertNothingLeft(t, app) })
		code, _, stderr := runStarlight(t, "", "-D", "--workers", "0", "--pid", pidFile, "--error-log", errLog, "-l", addr, app)
		if code != 0 {
			t.Errorf("starlight -D --workers 0: exit status %d, stderr %q; want 0", code, stderr)
		}
		_, body, err := fetch(newClient(false), "http://"+addr+"/pid")
		if err != nil {
			t.Fatalf("GET /pid after -D --workers 0 returned: %v", err)
		}
		b, _ := os.ReadFile(pidFile)
		pid := atoi(strings.TrimSpace(string(b)))
		if pidOf(body) != pid {
			t.Errorf("served by %q; the pid file holds %q", body, b)
		}
		// The app in starlight's place holds the pid file's lock: a
		// second start with it is refused.
		app2 := testApp(t)
		code, stderr = runFailing(t, app2, "--workers", "1", "--pid", pidFile, "-l", "127.0.0.1:"+itoa(freePort(t)), app2)
		if code != 1 || !strings.Contains(stderr, "belongs to running process "+itoa(pid)) {
			t.Errorf("a second start with the pid file of the app serving alone: exit %d, %q", code, stderr)
		}
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			eventually(t, stopTimeout, "the daemon gone after TERM", func() bool { return !alive(pid) })
		}
		if exists(pidFile) {
			t.Errorf("pid file left behind after TERM")
		}
	})
	t.Run("notify", func(t *testing.T) {
		t.Parallel()
		notify := listenNotify(t)
		app := testApp(t)
		addr := "127.0.0.1:" + itoa(freePort(t))
		s := startArgv(t, app, []string{starlightBin, "--workers", "0", "-l", addr, app}, []string{"NOTIFY_SOCKET=" + notify.path})
		select {
		case m := <-notify.msgs:
			if !hasLine(m.text, "READY=1") {
				t.Errorf("notification %q, want READY=1", m.text)
			}
		case <-time.After(startTimeout):
			_, body, err := fetch(s.client, "http://"+addr+"/pid")
			t.Errorf("no READY=1 after %s, though serving (GET /pid: %q %v)", startTimeout, body, err)
		}
		s.signal(t, syscall.SIGTERM)
		if code := s.wait(t, stopTimeout); code != 0 {
			t.Errorf("after TERM: %s", s.exitDesc)
		}
	})
}
