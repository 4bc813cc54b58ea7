package prefork

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/starlight-go/starlight/internal/addr"
	"golang.org/x/sys/unix"
)

func TestStaleSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "sl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "a.sock")
	l, err := bindUnix(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	// Live: refused.
	if _, err := bindUnix(path, -1); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("live socket: %v", err)
	}
	// Stale: the listener is gone but the file stays.
	unix.Close(l.fd)
	if _, err := os.Stat(path); err != nil {
		t.Fatal("socket file gone with the listener; cannot test a stale one")
	}
	l2, err := bindUnix(path, -1)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	closeListeners([]*listener{l2})
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("socket file left after close")
	}
	// A regular file is never removed.
	os.WriteFile(path, []byte("x"), 0o644)
	if _, err := bindUnix(path, -1); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("regular file: %v", err)
	}
}

// Handing a listener to workers must never switch the shared socket to
// blocking mode, or a worker's accept could not be interrupted on drain.
func TestListenerStaysNonblocking(t *testing.T) {
	l, err := bindTCP(addr.HostPort("127.0.0.1", 0), false, 0)
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
	tcp, err := bindTCP(addr.HostPort("127.0.0.1", 0), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	uds, err := bindUnix(filepath.Join(dir, "a.sock"), -1)
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

func mustParse(t *testing.T, s string) addr.Addr {
	t.Helper()
	a, err := addr.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
