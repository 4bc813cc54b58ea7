package prefork

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.pid")
	lock, err := writePidFile(path, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}
	// Ours is running and holds its lock: a second server is refused and
	// the file kept.
	if _, err := writePidFile(path, 1); err == nil || !strings.Contains(err.Error(), "running process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second write: %v", err)
	}
	// The same pid, but nobody holds the lock: the pid belongs to another
	// process now (a reboot), and the file is stale.
	lock.Close()
	lock, err = writePidFile(path, os.Getpid())
	if err != nil {
		t.Fatalf("an unlocked pid file of a live process not replaced: %v", err)
	}
	lock.Close()
	// A stale one (its process gone) is replaced.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644)
	lock, err = writePidFile(path, os.Getpid())
	if err != nil {
		t.Fatalf("stale pid file not replaced: %v", err)
	}
	defer lock.Close()
	removePidFile(path, 12345) // not ours: kept
	if _, err := os.Stat(path); err != nil {
		t.Fatal("removed someone else's pid file")
	}
	removePidFile(path, os.Getpid())
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("pid file left behind")
	}
	if _, err := writePidFile("/nonexistent-dir/x.pid", 1); err == nil {
		t.Fatal("pid file in a missing directory accepted")
	}
}

func TestResolveIdentity(t *testing.T) {
	id, err := resolveIdentity("", "")
	if err != nil || id != nil {
		t.Fatalf("no user, no group: %v %v", id, err)
	}
	id, err = resolveIdentity("root", "")
	if err != nil || id.uid != 0 || len(id.gids) != 1 || id.gids[0] != 0 {
		t.Fatalf("root: %+v %v", id, err)
	}
	id, err = resolveIdentity("0", "0, 1")
	if err != nil || id.uid != 0 || len(id.gids) != 2 || id.gids[1] != 1 {
		t.Fatalf("ids: %+v %v", id, err)
	}
	if _, err := resolveIdentity("no-such-user-here", ""); err == nil || !strings.Contains(err.Error(), `--user: unknown user "no-such-user-here"`) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := resolveIdentity("", "no-such-group-here"); err == nil || !strings.Contains(err.Error(), "--group: unknown group") {
		t.Fatalf("unknown group: %v", err)
	}
}

func TestPumpKeepsLinesWhole(t *testing.T) {
	var mu sync.Mutex
	var got []string
	var out strings.Builder
	s := &sink{w: &out}
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		pump(r, s, func(l string) { mu.Lock(); got = append(got, l); mu.Unlock() }, nil)
		close(done)
	}()
	long := strings.Repeat("x", 70<<10)
	huge := strings.Repeat("y", maxLine+5000)
	io.WriteString(w, "one\ntw")
	io.WriteString(w, "o\nthree\r\n")
	io.WriteString(w, long+"\n")
	io.WriteString(w, huge+"\nafter\n")
	io.WriteString(w, "tail without newline")
	w.Close()
	<-done
	want := "one\ntwo\nthree\r\n" + long + "\n" + huge[:maxLine] + string(cutMark) + "after\n" + "tail without newline"
	if out.String() != want {
		t.Fatalf("sink got %d bytes, want %d", out.Len(), len(want))
	}
	if len(got) != 7 || got[3] != long {
		t.Fatalf("%d lines; a long line was split", len(got))
	}
	joined := strings.Join(got, "|")
	if !strings.HasPrefix(joined, "one|two|three|") || !strings.HasSuffix(joined, "|tail without newline") {
		t.Fatalf("lines %q", joined[:40])
	}
}

func TestStaleSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "sl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "a.sock")
	l, err := bindUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	// Live: refused.
	if _, err := bindUnix(path); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("live socket: %v", err)
	}
	// Stale: the listener is gone but the file stays.
	unix.Close(l.fd)
	if _, err := os.Stat(path); err != nil {
		t.Fatal("socket file gone with the listener; cannot test a stale one")
	}
	l2, err := bindUnix(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	closeListeners([]*listener{l2})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("socket file left after close")
	}
	// A regular file is never removed.
	os.WriteFile(path, []byte("x"), 0o644)
	if _, err := bindUnix(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v", err)
	}
}

// Handing a listener to workers must never switch the shared socket to
// blocking mode, or a worker's accept could not be interrupted on drain.
func TestListenerStaysNonblocking(t *testing.T) {
	l, err := bindTCP("127.0.0.1:0", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer closeListeners([]*listener{l})
	for i := 0; i < 3; i++ {
		f, err := l.file()
		if err != nil {
			t.Fatal(err)
		}
		c := exec.Command("true")
		c.ExtraFiles = []*os.File{f} // exec calls Fd on it
		err = c.Run()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	flags, err := unix.FcntlInt(uintptr(l.fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Fatal("the listening socket became blocking")
	}
}

// The master holds its sockets outside the runtime's epoll, so that
// connections arriving for the workers never wake it.
func TestMasterSocketsNotPolled(t *testing.T) {
	dir := t.TempDir()
	tcp, err := bindTCP("127.0.0.1:0", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	uds, err := bindUnix(filepath.Join(dir, "a.sock"))
	if err != nil {
		t.Fatal(err)
	}
	ls := []*listener{tcp, uds}
	defer closeListeners(ls)
	// Hand each to a child, as a spawn does.
	for _, l := range ls {
		f, err := l.file()
		if err != nil {
			t.Fatal(err)
		}
		c := exec.Command("true")
		c.ExtraFiles = []*os.File{f}
		err = c.Run()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	watched := epollInodes(t)
	if len(watched) == 0 {
		t.Fatal("found no descriptor watched by the runtime's epoll: the test cannot see registrations")
	}
	for _, l := range ls {
		var st unix.Stat_t
		if err := unix.Fstat(l.fd, &st); err != nil {
			t.Fatal(err)
		}
		if watched[st.Ino] {
			t.Errorf("listener %s (inode %d) is watched by the runtime's epoll", l.addr, st.Ino)
		}
	}
}

// epollInodes returns the inodes of every file an epoll instance of this
// process watches, from /proc/self/fdinfo.
func epollInodes(t *testing.T) map[uint64]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	out := map[uint64]bool{}
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		b, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "tfd:") {
				continue
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "ino:"); ok {
					if n, err := strconv.ParseUint(v, 16, 64); err == nil {
						out[n] = true
					}
				}
			}
		}
	}
	return out
}

// --group takes names or ids, separated by commas or spaces.
func TestGroupLists(t *testing.T) {
	for _, groups := range []string{"0,1", "0 1", "root, 1", "0 ,1"} {
		id, err := resolveIdentity("", groups)
		if err != nil {
			t.Errorf("--group %q: %v", groups, err)
			continue
		}
		if !slices.Equal(id.gids, []int{0, 1}) {
			t.Errorf("--group %q: groups %v, want [0 1]", groups, id.gids)
		}
	}
	if _, err := resolveIdentity("", "0,no-such-group-e2e"); err == nil || !strings.Contains(err.Error(), "no-such-group-e2e") {
		t.Errorf("an unknown group in a list: %v", err)
	}
}

// gate is a writer that takes nothing until opened: a log nobody reads.
type gate struct {
	open    chan struct{}
	entered chan struct{} // a write waits at the gate
	once    sync.Once
	mu      sync.Mutex
	out     strings.Builder
}

func (g *gate) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.Write(p)
}

// A sink in the background never blocks its writers: while its
// destination takes nothing, writes beyond the queue's room are dropped;
// once it takes writes again, it gets those queued, in order, and a line
// that counts those dropped.
func TestSinkDropsWhatAStalledLogMisses(t *testing.T) {
	g := &gate{open: make(chan struct{}), entered: make(chan struct{})}
	s := &sink{w: g}
	s.background()
	const n = sinkQueueLen + 100
	s.Write([]byte("line 0\n"))
	<-g.entered // the sink's goroutine holds line 0 at the gate
	for i := 1; i < n; i++ {
		s.Write([]byte("line " + strconv.Itoa(i) + "\n")) // never blocks
	}
	close(g.open)
	if !s.flush(time.Now().Add(10 * time.Second)) {
		t.Fatal("flush did not end once the log took writes again")
	}
	g.mu.Lock()
	got := g.out.String()
	g.mu.Unlock()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	// The writer goroutine held one write (line 0) while the gate was
	// shut, and the queue the next ones: the rest were dropped, and the
	// count comes as soon as the log takes writes again.
	var kept []string
	count := ""
	for _, l := range lines {
		if strings.Contains(l, " dropped: ") {
			count = l
			continue
		}
		kept = append(kept, l)
	}
	for i, l := range kept {
		if l != "line "+strconv.Itoa(i) {
			t.Fatalf("line %d written is %q, want %q", i, l, "line "+strconv.Itoa(i))
		}
	}
	dropped := n - len(kept)
	if want := " starlight: " + strconv.Itoa(dropped) + " writes to this log dropped: it did not keep up"; !strings.HasSuffix(count, want) || dropped != 99 || lines[1] != count {
		t.Errorf("%d lines kept of %d; count line %q (line 2 of the log: %q), want one ending %q", len(kept), n, count, lines[1], want)
	}
}

// USR1's reopen never waits for a write that does not end: the new file is
// swapped in behind the writes queued before it.
func TestSinkReopenWhileStalled(t *testing.T) {
	g := &gate{open: make(chan struct{}), entered: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "error.log")
	s := &sink{w: g, path: path}
	s.background()
	s.Write([]byte("before\n"))
	<-g.entered // stuck writing "before"
	done := make(chan error, 1)
	go func() { done <- s.reopen() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reopen waits for the stalled write")
	}
	s.Write([]byte("after\n"))
	close(g.open)
	if !s.flush(time.Now().Add(10 * time.Second)) {
		t.Fatal("flush did not end")
	}
	b, _ := os.ReadFile(path)
	g.mu.Lock()
	old := g.out.String()
	g.mu.Unlock()
	if string(b) != "after\n" || old != "before\n" {
		t.Errorf("reopened file has %q, the old one %q; want %q and %q", b, old, "after\n", "before\n")
	}
}
