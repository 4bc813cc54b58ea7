package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// -D returns 0 once the daemon serves; the daemon has a session of its
// own and no terminal; TERM to the pid in the pid file stops it and
// removes the pid file and the socket file.
func TestProdDaemonLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	errLog := filepath.Join(dir, "d.log")
	sock := filepath.Join(dir, "d.sock")
	addr := "127.0.0.1:" + itoa(freePort(t))
	app := testApp(t)
	killArgvHolding(t, pidFile)
	t.Cleanup(func() { assertNothingLeft(t, app) })

	t0 := time.Now()
	code, stdout, stderr := runStarlight(t, "", "-D", "--pid", pidFile, "--error-log", errLog, "-S", sock, "-l", addr, "--workers", "2", app)
	if code != 0 {
		t.Fatalf("starlight -D: exit status %d, stderr %q", code, stderr)
	}
	took := time.Since(t0)
	if stdout != "" || stderr != "" {
		t.Errorf("starlight -D printed: stdout %q stderr %q", stdout, stderr)
	}
	// Both workers were ready before the command returned (the daemon
	// logs that before it reports), and it serves on every listener.
	if b, _ := os.ReadFile(errLog); len(regexp.MustCompile(`(?m)starlight: worker \d+ ready`).FindAll(b, -1)) != 2 {
		t.Errorf("starlight -D returned before the 2 workers were ready; the error log then:\n%s", b)
	}
	if _, body, err := fetch(newClient(false), "http://"+addr+"/pid"); err != nil || pidOf(body) == 0 {
		t.Fatalf("GET /pid right after -D returned (after %s): %q %v", took, body, err)
	}
	if body, err := unixHTTP(sock).Get("http://unix/pid"); err != nil {
		t.Errorf("GET /pid on %s right after -D returned: %v", sock, err)
	} else {
		body.Body.Close()
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(pid) {
		t.Fatalf("pid file holds %q: no running process", b)
	}
	if !slices.Contains(argvHolding(pidFile), pid) {
		t.Fatalf("process %d of the pid file is not the daemon", pid)
	}
	f := statFields(t, pid) // state ppid pgrp session tty_nr
	if f[2] != itoa(pid) || f[3] != itoa(pid) {
		t.Errorf("daemon %d: process group %s, session %s; want a session of its own", pid, f[2], f[3])
	}
	if f[4] != "0" {
		t.Errorf("daemon %d has a controlling terminal (tty_nr %s)", pid, f[4])
	}
	for fd, want := range map[int]string{0: os.DevNull, 1: os.DevNull, 2: errLog} {
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); got != want {
			t.Errorf("daemon's fd %d is %q, want %q", fd, got, want)
		}
	}

	// kill -TERM $(cat PIDFILE)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, stopTimeout, "the daemon gone after TERM", func() bool { return !alive(pid) })
	assertNothingLeft(t, app)
	for _, p := range []string{pidFile, sock} {
		if exists(p) {
			t.Errorf("%s left behind by the daemon", p)
		}
	}
	if !fileHas(errLog, regexp.MustCompile(`starlight: stopping gracefully \(SIGTERM\)`)) {
		t.Errorf("the error log does not show the stop")
	}
	if !closedPort(addr) {
		t.Errorf("%s still accepts after the daemon stopped", addr)
	}
}

// A daemon that cannot start: the command exits 1 with the reason, and
// nothing stays behind.
func TestProdDaemonStartFailure(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	errLog := filepath.Join(dir, "d.log")
	app := testApp(t)
	killArgvHolding(t, pidFile)
	code, _, stderr := runStarlight(t, "", "-D", "--pid", pidFile, "--error-log", errLog, "-l", busy.Addr().String(), "--workers", "1", app)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if want := "listen " + busy.Addr().String() + ": address already in use"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q, want the reason %q", stderr, want)
	}
	eventually(t, stopTimeout, "no daemon left", func() bool { return len(argvHolding(pidFile)) == 0 })
	assertNothingLeft(t, app)
	if exists(pidFile) {
		t.Errorf("pid file written by a daemon that did not start")
	}
}

// A daemon whose app cannot start: the command exits 1 with what the app
// wrote last, and says where the rest of its output went.
func TestProdDaemonAppCannotStart(t *testing.T) {
	t.Parallel()
	fail := filepath.Join(t.TempDir(), "fail")
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"TESTAPP_FAIL_FILE=" + fail}
	errLog := filepath.Join(t.TempDir(), "d.log")
	for _, tc := range []struct {
		name  string
		args  []string
		where string
	}{
		{"no-error-log", nil, "its output was discarded (-D without --error-log)"},
		{"error-log", []string{"--error-log", errLog}, "its output is in " + errLog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := testApp(t)
			args := append([]string{"-D", "-l", "127.0.0.1:" + itoa(freePort(t)), "--workers", "1"}, tc.args...)
			code, _, stderr := runStarlightEnv(t, "", env, append(args, app)...)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			for _, want := range []string{`after writing "failing at start"`, tc.where} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not say %q", stderr, want)
				}
			}
			assertNothingLeft(t, app)
		})
	}
	if b, err := os.ReadFile(errLog); err != nil || !strings.Contains(string(b), "failing at start\n") {
		t.Errorf("the error log has no output of the app: %q, %v", b, err)
	}
}
