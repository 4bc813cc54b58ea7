package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Socket activation: starlight serves the socket passed as fd 3 and binds
// nothing; it notifies READY=1 once the workers serve, RELOADING=1 and
// READY=1 around a slow restart, and STOPPING=1.
func TestProdSystemdActivation(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	addr := ln.Addr().String()
	// A unix socket too: its file is systemd's, to be left in place.
	sock := filepath.Join(t.TempDir(), "app.sock")
	uln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	uln.SetUnlinkOnClose(false)
	uf, err := uln.File()
	if err != nil {
		t.Fatal(err)
	}
	uln.Close()
	notify := listenNotify(t)
	unused := "127.0.0.1:" + itoa(freePort(t))
	unusedSock := filepath.Join(t.TempDir(), "unused.sock")
	app := testApp(t)
	argv := []string{"sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, starlightBin, "--workers", "2", "-l", unused, "-S", unusedSock, app}
	s := startArgv(t, app, argv, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=http:unix", "NOTIFY_SOCKET=" + notify.path}, f, uf)
	f.Close() // starlight holds the only copies now
	uf.Close()

	ready := notify.next(t, "READY=1")
	if !hasLine(ready.text, "READY=1") || !hasLine(ready.text, "MAINPID="+itoa(s.pid)) {
		t.Fatalf("first notification %q, want READY=1 and MAINPID=%d", ready.text, s.pid)
	}
	if body := mustFetch(t, s.client, "http://"+addr+"/pid"); pidOf(body) == 0 {
		t.Errorf("GET /pid right after READY=1: %q", body)
	}
	eventually(t, 5*time.Second, "2 ready lines in the log", func() bool { return s.count(reReady) >= 2 })
	for _, line := range s.lines() {
		if reReady.MatchString(line) {
			if ts, ok := stampOf(line); !ok || ts.After(ready.at) {
				t.Errorf("%q logged after READY=1 arrived (%s)", line, ready.at.Format("15:04:05.000"))
			}
		}
	}
	if !regexp.MustCompile(`starlight: using 2 sockets from systemd\n.* starlight: --host, --port, --listen and --socket are ignored: the sockets come from systemd\n(?:.*\n)*.* serving http://` + regexp.QuoteMeta(addr) + `/ unix:` + regexp.QuoteMeta(sock) + ` with`).MatchString(s.stderr.String()) {
		t.Errorf("the log does not show the sockets from systemd:\n%s", s.stderr)
	}
	if body := mustFetch(t, unixHTTP(sock), "http://unix/pid"); pidOf(body) == 0 {
		t.Errorf("GET /pid on the unix socket from systemd: %q", body)
	}
	if !closedPort(unused) {
		t.Errorf("%s (from -l) is bound though systemd passed the sockets", unused)
	}
	if exists(unusedSock) {
		t.Errorf("%s (from -S) is bound though systemd passed the sockets", unusedSock)
	}
	for _, pid := range s.workers() {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, kv := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(kv, "LISTEN_") {
				t.Errorf("worker %d has %s in its environment", pid, kv)
			}
		}
	}

	s.signal(t, syscall.SIGHUP)
	reloading := notify.next(t, "RELOADING=1")
	if !hasLine(reloading.text, "RELOADING=1") || !regexp.MustCompile(`(?m)^MONOTONIC_USEC=\d+$`).MatchString(reloading.text) {
		t.Errorf("notification after HUP %q, want RELOADING=1 and MONOTONIC_USEC", reloading.text)
	}
	again := notify.next(t, "READY=1 after the reload")
	if !hasLine(again.text, "READY=1") {
		t.Errorf("notification after RELOADING=1 %q, want READY=1", again.text)
	}
	// By then only workers of the new generation take connections.
	for i := 0; i < 4; i++ {
		if body := mustFetch(t, s.client, "http://"+addr+"/pid"); !strings.HasSuffix(body, " 2\n") {
			t.Errorf("a new connection after the READY=1 that ends the reload was answered by %q, a worker of generation 1", body)
		}
	}

	s.signal(t, syscall.SIGTERM)
	stopping := notify.next(t, "STOPPING=1")
	if !hasLine(stopping.text, "STOPPING=1") {
		t.Errorf("notification after TERM %q, want STOPPING=1", stopping.text)
	}
	if code := s.wait(t, stopTimeout); code != 0 {
		t.Errorf("after TERM: %s", s.exitDesc)
	}
	s.assertNoWorkers(t)
	if !closedPort(addr) {
		t.Errorf("the socket from systemd still accepts after exit")
	}
	if !isSocketFile(sock) {
		t.Errorf("starlight removed the socket file %s that systemd made", sock)
	}
	for _, m := range notify.rest(t) {
		t.Errorf("unexpected notification after STOPPING=1: %q", m.text)
	}
}

// refusedWithSystemdSocket runs starlight with args and the app under
// socket activation, with f as the one passed socket, and checks that it
// exits 1 with want in its log and no worker started.
func refusedWithSystemdSocket(t *testing.T, f *os.File, args []string, want string) {
	t.Helper()
	app := testApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, starlightBin}, args...)
	cmd := exec.CommandContext(ctx, "sh", append(argv, app)...)
	cmd.Env = childEnv("LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := startCmd(cmd); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d (%v), want 1", code, err)
	}
	if !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "spawned") {
		t.Errorf("stderr %q, want %q and no worker", stderr.String(), want)
	}
	assertNothingLeft(t, app)
}

// A passed descriptor that is no listening stream socket: exit 1, saying
// which.
func TestProdSystemdBadSocket(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := pc.(*net.UDPConn).File()
	pc.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refusedWithSystemdSocket(t, f, []string{"--workers", "1", "-l", "127.0.0.1:" + itoa(freePort(t))},
		"socket activation: fd 3: not a stream socket")
}

// --reuse-port binds a socket per worker, which a socket from systemd
// cannot give: exit 1, saying so, before any worker starts.
func TestProdSystemdReusePortRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refusedWithSystemdSocket(t, f, []string{"--reuse-port", "--workers", "2"},
		"--reuse-port binds a socket per worker, and the sockets come from systemd")
}
