package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// -l [::1]:PORT and -o ::1 serve on ::1 only; --ipv6 with no --host
// listens on [::], IPv4 clients included.
func TestProdIPv6Listeners(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	for _, tc := range []struct {
		name   string
		args   func(port string) []string
		shown  string // the listener in the log
		ipv4ok bool   // 127.0.0.1 served too
	}{
		{"listen", func(p string) []string { return []string{"-l", "[::1]:" + p} }, "http://[::1]:%s/", false},
		{"host", func(p string) []string { return []string{"-o", "::1", "-p", p} }, "http://[::1]:%s/", false},
		{"ipv6-flag", func(p string) []string { return []string{"--ipv6", "-p", p} }, "http://[::]:%s/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port := itoa(freeDualPort(t))
			s := startServer(t, testApp(t), 1, tc.args(port)...)
			if want := fmt.Sprintf(tc.shown, port); !strings.Contains(s.stderr.String(), want) {
				t.Errorf("the log does not show %s", want)
			}
			if body := mustFetch(t, s.client, "http://[::1]:"+port+"/pid"); pidOf(body) == 0 {
				t.Errorf("GET /pid on [::1]:%s: %q", port, body)
			}
			_, _, err := fetch(s.client, "http://127.0.0.1:"+port+"/pid")
			if tc.ipv4ok && err != nil {
				t.Errorf("%s: 127.0.0.1:%s not served: %v", tc.name, port, err)
			}
			if !tc.ipv4ok && err == nil {
				t.Errorf("%s: 127.0.0.1:%s served, want only ::1", tc.name, port)
			}
			s.stop(t)
		})
	}
}

// -S and -l PATH.sock, an abstract socket and TCP at once, every worker
// on each; the socket files go at exit.
func TestProdUnixListeners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sockS := filepath.Join(dir, "s.sock")
	sockL := filepath.Join(dir, "l.sock")
	abstract := fmt.Sprintf("@starlight-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	addr := "127.0.0.1:" + itoa(freePort(t))
	s := startServer(t, testApp(t), 2, "-S", sockS, "-l", sockL, "-l", abstract, "-l", addr)
	workers := s.readyWorkers()
	for _, want := range []string{"unix:" + sockS, "unix:" + sockL, "unix:" + abstract, "http://" + addr + "/"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("the log does not show the listener %s", want)
		}
	}
	for _, path := range []string{sockS, sockL} {
		if !isSocketFile(path) {
			t.Errorf("%s is not a socket file while serving", path)
		}
	}
	for _, l := range []struct {
		name string
		c    *http.Client
		url  string
	}{
		{"-S " + sockS, unixHTTP(sockS), "http://unix/pid"},
		{"-l " + sockL, unixHTTP(sockL), "http://unix/pid"},
		{"-l " + abstract, unixHTTP(abstract), "http://unix/pid"},
		{"-l " + addr, s.client, "http://" + addr + "/pid"},
	} {
		seen := seenPIDs(l.c, l.url, workers, 300)
		if len(seen) == 0 {
			t.Errorf("%s serves nothing", l.name)
			continue
		}
		for _, pid := range workers {
			if !seen[pid] {
				t.Errorf("worker %d never answered on %s (answers from %v)", pid, l.name, seen)
			}
		}
	}
	s.stop(t)
	for _, path := range []string{sockS, sockL} {
		if exists(path) {
			t.Errorf("%s left behind at exit", path)
		}
	}
	if c, err := net.Dial("unix", abstract); err == nil {
		c.Close()
		t.Errorf("%s still accepts after exit", abstract)
	}
}

// A stale socket file is replaced (and the log says so); one a live server
// answers on is refused, and that server keeps serving; a file that is no
// socket is left alone.
func TestProdSocketFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	staleSocket(t, sock)
	app := testApp(t)
	s := startServer(t, app, 1, "-S", sock)
	s.waitLog(t, time.Second, regexp.MustCompile(`starlight: removed stale socket `+regexp.QuoteMeta(sock)+`$`))
	c := unixHTTP(sock)
	before := pidOf(mustFetch(t, c, "http://unix/pid"))

	app2 := testApp(t)
	code, stderr := runFailing(t, app2, "--workers", "1", "-S", sock, app2)
	if code != 1 {
		t.Errorf("a second server on the live socket: exit status %d, want 1", code)
	}
	if want := "listen " + sock + ": a server is already listening on this socket"; !strings.Contains(stderr, want) || strings.Contains(stderr, "spawned") {
		t.Errorf("a second server on the live socket: stderr %q, want %q and no worker", stderr, want)
	}
	assertNothingLeft(t, app2)
	if !isSocketFile(sock) {
		t.Fatalf("the refused server removed %s", sock)
	}
	if after := pidOf(mustFetch(t, c, "http://unix/pid")); after != before {
		t.Errorf("after the refused start, the socket is answered by %d, want the first server's worker %d", after, before)
	}

	notSock := filepath.Join(dir, "file.sock")
	write(t, notSock, "data\n")
	code, stderr = runFailing(t, app2, "--workers", "1", "-S", notSock, app2)
	if code != 2 || !strings.Contains(stderr, "--socket: "+notSock+": exists and is not a socket: not replaced") {
		t.Errorf("-S on a regular file: exit %d, stderr %q", code, stderr)
	}
	if b, err := os.ReadFile(notSock); err != nil || string(b) != "data\n" {
		t.Errorf("the regular file was touched: %q %v", b, err)
	}
	s.stop(t)
	if exists(sock) {
		t.Errorf("%s left behind at exit", sock)
	}
}

// A socket whose server is too busy to take one more connection (its
// queue is full) is not stale: starlight refuses it and leaves it. And at
// exit starlight removes its socket file only if it is still its own: one
// another server has put there since stays.
func TestProdSocketFileOfAnotherServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy := filepath.Join(dir, "busy.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: busy}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepts
		t.Fatal(err)
	}
	var queued []net.Conn
	defer func() {
		for _, c := range queued {
			c.Close()
		}
	}()
	for len(queued) < 100 {
		c, err := net.DialTimeout("unix", busy, time.Second)
		if err != nil {
			break // full
		}
		queued = append(queued, c)
	}
	app := testApp(t)
	code, stderr := runFailing(t, app, "--workers", "1", "-S", busy, app)
	if want := "listen " + busy + ": a server is already listening on this socket (its queue is full)"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("-S on the socket of a server with a full queue: exit %d, stderr %q, want 1 and %q", code, stderr, want)
	}
	if !isSocketFile(busy) {
		t.Errorf("the busy server's socket %s was removed", busy)
	}
	assertNothingLeft(t, app)

	sock := filepath.Join(dir, "app.sock")
	s := startServer(t, app, 1, "-S", sock)
	mustFetch(t, unixHTTP(sock), "http://unix/pid")
	// Another server takes the path over while this one runs.
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s.stop(t)
	if !isSocketFile(sock) {
		t.Errorf("at exit starlight removed %s, which another server had bound since", sock)
	}
}
