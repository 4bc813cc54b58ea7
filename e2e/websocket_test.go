package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsApp links the websocket test app (testdata/wsapp) under a path of
// this test's own.
func wsApp(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "wsapp")
	if err := os.Link(wsappBin, p); err != nil {
		copyExecutable(t, wsappBin, p)
	}
	return p
}

// startWS runs starlight with n workers of the websocket app on a free
// port of 127.0.0.1, with env and args, and waits until they are ready.
func startWS(t *testing.T, n int, env []string, args ...string) *server {
	t.Helper()
	app := wsApp(t)
	addr := "127.0.0.1:" + itoa(freePort(t))
	argv := append([]string{starlightBin, "--workers", itoa(n), "-l", addr}, args...)
	s := startArgv(t, app, append(argv, app), env)
	s.addr = addr
	s.waitPool(t, n, startTimeout)
	return s
}

// dialWS opens a websocket to /ws and returns it with the pid of the
// worker that greeted it.
func dialWS(t *testing.T, s *server) (*websocket.Conn, int) {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial("ws://"+s.addr+"/ws", nil)
	if err != nil {
		t.Fatalf("websocket dial: %v (response %v)", err, resp)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("websocket greeting: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimPrefix(string(msg), "hello "))
	if err != nil {
		t.Fatalf("websocket greeting %q", msg)
	}
	return c, pid
}

// echo sends msg on c and reports whether it came back.
func echo(c *websocket.Conn, msg string) error {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, got, err := c.ReadMessage()
	if err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("echo: sent %q, got %q", msg, got)
	}
	return nil
}

// closeCode waits up to timeout for c to end and returns its close code
// (1006 when it was cut without a close frame).
func closeCode(t *testing.T, c *websocket.Conn, timeout time.Duration) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(timeout))
	for {
		_, _, err := c.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("websocket ended without a close code: %v", err)
	}
}

// reconnect dials /ws until a worker other than not greets it, within a
// few seconds, and returns that worker's pid.
func reconnect(t *testing.T, s *server, not int) int {
	t.Helper()
	var pid int
	eventually(t, 5*time.Second, "a websocket to another worker", func() bool {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+s.addr+"/ws", nil)
		if err != nil {
			return false
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, msg, err := c.ReadMessage()
		if err != nil {
			return false
		}
		pid, _ = strconv.Atoi(strings.TrimPrefix(string(msg), "hello "))
		return pid != 0 && pid != not && echo(c, "again") == nil
	})
	return pid
}

// A HUP starts a new generation; the old worker drains, and the app,
// told so by httpserver.Draining, closes its websocket with 1001 (Going
// Away), long before --graceful-timeout: no connection is cut, and the
// client reconnects to the new generation at once.
func TestWebsocketClosedWith1001OnReload(t *testing.T) {
	s := startWS(t, 1, nil, "--graceful-timeout", "30")
	c, pid := dialWS(t, s)
	defer c.Close()
	if err := echo(c, "before"); err != nil {
		t.Fatal(err)
	}
	s.signal(t, syscall.SIGHUP)
	start := time.Now()
	if code := closeCode(t, c, 20*time.Second); code != websocket.CloseGoingAway {
		t.Fatalf("websocket closed with %d after the HUP, want 1001 (Going Away)", code)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the 1001 came %s after the HUP: that is the grace period's end, not the drain notice", d)
	}
	if other := reconnect(t, s, pid); other == pid {
		t.Fatalf("reconnected to the draining worker %d", pid)
	}
	gone := regexp.MustCompile(`worker ` + itoa(pid) + ` (exited|recycled)`)
	s.waitLog(t, 10*time.Second, gone)
	for _, l := range s.lines() {
		if gone.MatchString(l) && strings.Contains(l, "cut") {
			t.Fatalf("the drained worker cut a connection: %s", l)
		}
	}
}

// An app that ignores the drain notice keeps its websocket through the
// grace period (it still echoes after the HUP, while the new generation
// serves); at the end the connection is cut, and the master's log says
// so.
func TestWebsocketKeptForGracePeriod(t *testing.T) {
	const grace = 3 * time.Second
	s := startWS(t, 1, []string{"WSAPP_IGNORE_DRAIN=1"}, "--graceful-timeout", "3")
	c, pid := dialWS(t, s)
	defer c.Close()
	s.signal(t, syscall.SIGHUP)
	start := time.Now()
	// The new generation serves while the old worker keeps the websocket.
	eventually(t, startTimeout, "a worker of generation 2 ready", func() bool {
		return s.count(regexp.MustCompile(`ready \(generation 2\)`)) > 0
	})
	for i := 0; time.Since(start) < grace-time.Second; i++ {
		if err := echo(c, "still there "+itoa(i)); err != nil {
			t.Fatalf("the websocket failed %s after the HUP, within the grace period of %s: %v", time.Since(start), grace, err)
		}
		time.Sleep(50 * time.Millisecond) // paced echoes, not synchronisation
	}
	code := closeCode(t, c, grace+10*time.Second)
	d := time.Since(start)
	if code != websocket.CloseAbnormalClosure {
		t.Fatalf("close code %d, want 1006 (cut at the grace period's end)", code)
	}
	if d < grace-500*time.Millisecond {
		t.Fatalf("cut %s after the HUP, before the grace period of %s", d, grace)
	}
	s.waitLog(t, 10*time.Second, regexp.MustCompile(`worker `+itoa(pid)+` exited .*1 hijacked connection \(websockets\) cut`))
}

// A worker at its request budget drains: its websocket client is told
// with 1001 and reconnects to the worker that replaced it. The upgrade
// counts as one request of the budget.
func TestWebsocketRecycleMovesClient(t *testing.T) {
	s := startWS(t, 1, nil, "--max-reqs-per-child", "3", "--graceful-timeout", "30")
	c, pid := dialWS(t, s) // request 1
	defer c.Close()
	for range 2 { // requests 2 and 3: the budget
		mustFetch(t, s.client, "http://"+s.addr+"/pid")
	}
	if code := closeCode(t, c, 10*time.Second); code != websocket.CloseGoingAway {
		t.Fatalf("websocket closed with %d at the budget, want 1001", code)
	}
	if other := reconnect(t, s, pid); other == pid {
		t.Fatalf("reconnected to the recycled worker %d", pid)
	}
	line := regexp.MustCompile(`worker ` + itoa(pid) + ` recycled after 3 requests$`)
	s.waitLog(t, 10*time.Second, line)
}

// A protocol switch made the way coder/websocket makes it (WriteHeader
// 101, then Hijack) is never marked Connection: close, neither as the
// last request --max-keepalive-reqs allows nor with keep-alive off.
func TestUpgradeNotMarkedClose(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		before int // requests on the connection before the upgrade
	}{
		{"last keep-alive request", []string{"--max-keepalive-reqs", "2"}, 1},
		{"keep-alive off", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startWS(t, 1, nil, tc.args...)
			conn, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(conn)
			for range tc.before {
				req, _ := http.NewRequest("GET", "http://x/pid", nil)
				req.Write(conn)
				resp, err := http.ReadResponse(br, req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			req, _ := http.NewRequest("GET", "http://x/upgrade", nil)
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "echo")
			req.Write(conn)
			resp, err := http.ReadResponse(br, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d, want 101", resp.StatusCode)
			}
			if got := resp.Header.Values("Connection"); len(got) != 1 || got[0] != "Upgrade" {
				t.Fatalf("101 answered with Connection %q, want only Upgrade", got)
			}
			fmt.Fprintf(conn, "ping\n")
			line, err := br.ReadString('\n')
			if err != nil || line != "ping\n" {
				t.Fatalf("echo over the switched connection: %q %v", line, err)
			}
		})
	}
}
