package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestProdPidFileLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "app.pid")

	// A stale pid file: the pid of a process that has exited.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	write(t, pidFile, itoa(gone.Process.Pid)+"\n")
	s := startServer(t, testApp(t), 1, "--pid", pidFile, "-l", "127.0.0.1:"+itoa(freePort(t)))
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != itoa(s.pid)+"\n" {
		t.Fatalf("pid file %q %v, want the master's pid %d", b, err, s.pid)
	}
	if s.count(regexp.MustCompile(`starlight: replaced the stale pid file .*: process `+itoa(gone.Process.Pid)+` is gone$`)) != 1 {
		t.Errorf("no log line says the stale pid file was replaced")
	}

	// A pid file naming a live process that is no starlight (its pid
	// was taken after a reboot, say): it holds no lock, so it is stale.
	other := filepath.Join(dir, "other.pid")
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	write(t, other, itoa(sleeper.Process.Pid)+"\n")
	s2 := startServer(t, testApp(t), 1, "--pid", other, "-l", "127.0.0.1:"+itoa(freePort(t)))
	if b, err := os.ReadFile(other); err != nil || string(b) != itoa(s2.pid)+"\n" {
		t.Errorf("a pid file naming a live process that is no starlight: it holds %q %v, want the new master's pid %d", b, err, s2.pid)
	}
	if s2.count(regexp.MustCompile(`starlight: replaced the stale pid file .*: process `+itoa(sleeper.Process.Pid)+` holds no lock on it, so it is no starlight$`)) != 1 {
		t.Errorf("no log line says the pid file of a live process that is no starlight was replaced")
	}
	s2.stop(t)

	// A pid file of a running process.
	app2 := testApp(t)
	code, stderr := runFailing(t, app2, "--workers", "1", "--pid", pidFile, "-l", "127.0.0.1:"+itoa(freePort(t)), app2)
	if code != 1 {
		t.Errorf("a second server with the same pid file: exit status %d, want 1", code)
	}
	if want := fmt.Sprintf("--pid: %s belongs to running process %d", pidFile, s.pid); !strings.Contains(stderr, want) || strings.Contains(stderr, "spawned") {
		t.Errorf("a second server with the same pid file: stderr %q, want %q and no worker", stderr, want)
	}
	assertNothingLeft(t, app2)
	if b, _ := os.ReadFile(pidFile); string(b) != itoa(s.pid)+"\n" {
		t.Errorf("after the refused start the pid file holds %q, want %d", b, s.pid)
	}

	// A pid file in a directory that does not exist.
	nodir := filepath.Join(dir, "nonexistent", "app.pid")
	code, stderr = runFailing(t, app2, "--workers", "1", "--pid", nodir, "-l", "127.0.0.1:"+itoa(freePort(t)), app2)
	if code != 2 || !strings.Contains(stderr, "--pid: ") || strings.Contains(stderr, "spawned") {
		t.Errorf("--pid in a missing directory: exit %d, stderr %q", code, stderr)
	}

	s.stop(t)
	if exists(pidFile) {
		t.Errorf("pid file left behind at exit")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left in the pid file's directory: %v", names)
	}
}
