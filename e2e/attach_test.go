package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// attach runs starlight attach --pid pidFile in a new tmux session of d.
func (d *dashboard) attach(name, pidFile string, width, height int) {
	d.t.Helper()
	d.name = name
	d.status = filepath.Join(filepath.Dir(d.conf), name+".status")
	argv := []string{d.bin, "attach", "--pid", pidFile}
	d.tmuxOK("-f", d.conf, "new-session", "-d", "-s", d.name, "-x", itoa(width), "-y", itoa(height),
		shellJoin(argv)+"; echo $? >"+shellJoin([]string{d.status}))
}

// starlight attach, in a real terminal, shows a headless server's
// workers, the log lines it holds and those that come after; q detaches
// and the server serves on; Q, confirmed, stops it.
func TestAttachHeadlessServer(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "sl.pid")
	s := start(t, options{args: []string{"--quiet", "--workers", "2", "--pid", pidFile}, ready: 2})
	mustFetch(t, s.client, "http://"+s.addr+"/log?text=before-attaching")
	d, _ := newDashboard(t)
	d.attach("attach1", pidFile, 120, 40)

	pids := s.workers()
	slices.Sort(pids)
	screen := d.waitScreen("both workers and the line logged before", func(sc string) bool {
		return slices.Equal(rowPIDs(workerRows(sc)), pids) && strings.Contains(sc, "before-attaching")
	})
	if !strings.Contains(screen, "q detach") {
		t.Errorf("the help line does not say q detach:\n%s", screen)
	}
	mark := fmt.Sprintf("after-attaching-%d", time.Now().UnixNano())
	mustFetch(t, s.client, "http://"+s.addr+"/log?text="+mark)
	d.waitScreen("the line logged after attaching", func(sc string) bool { return strings.Contains(sc, mark) })

	// a: the workers' access lines, through the socket as well.
	d.keys("a")
	d.waitScreen("access lines shown", func(sc string) bool { return strings.Contains(sc, "access shown") })
	eventually(t, screenTimeout, "an access line of /env on the screen", func() bool {
		mustFetch(t, s.client, "http://"+s.addr+"/env")
		return strings.Contains(d.screen(), `"GET /env HTTP/1.1" 200`)
	})

	d.keys("q")
	if !poll(screenTimeout, func() bool { dead, _ := d.paneDead(); return dead }) {
		t.Fatalf("attach still runs after q:\n%s", d.screen())
	}
	if _, status := d.paneDead(); status != 0 {
		t.Errorf("attach exited %d after q, want 0", status)
	}
	if s.exited() {
		t.Fatalf("the server exited when the dashboard detached")
	}
	if _, _, err := s.whoami(s.client); err != nil {
		t.Fatalf("the server does not serve after the dashboard detached: %v", err)
	}

	// Q asks first; any other key than y leaves the server running.
	d.attach("attach2", pidFile, 120, 40)
	d.waitScreen("the workers", func(sc string) bool { return len(workerRows(sc)) == 2 })
	d.keys("Q")
	d.waitScreen("the question", func(sc string) bool { return strings.Contains(sc, "stop the server?") })
	d.keys("n")
	d.waitScreen("the answer", func(sc string) bool { return strings.Contains(sc, "the server runs on") })
	d.keys("Q")
	d.waitScreen("the question", func(sc string) bool { return strings.Contains(sc, "stop the server?") })
	d.keys("y")
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		t.Fatalf("the server runs on after Q and y:\n%s", d.screen())
	}
	if s.exitCode != 0 {
		t.Errorf("the server exited %d after Q, want 0", s.exitCode)
	}
	if !poll(screenTimeout, func() bool { dead, _ := d.paneDead(); return dead }) {
		t.Errorf("attach runs on after the server stopped:\n%s", d.screen())
	}
	s.assertNoWorkers(t)
}
