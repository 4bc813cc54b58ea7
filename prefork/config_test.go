package prefork

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestBudget(t *testing.T) {
	m := &Master{cfg: Config{MaxReqsPerChild: 100, MinReqsPerChild: 50}}
	seen := map[uint64]bool{}
	for i := 0; i < 2000; i++ {
		b := m.budget()
		if b < 50 || b > 100 {
			t.Fatalf("budget %d outside [50, 100]", b)
		}
		seen[b] = true
	}
	if len(seen) < 20 {
		t.Fatalf("only %d distinct budgets in 2000 draws", len(seen))
	}
	m.cfg = Config{MaxReqsPerChild: 100}
	if m.budget() != 100 {
		t.Fatal("no min: budget is not max")
	}
	m.cfg = Config{}
	if m.budget() != 0 {
		t.Fatal("inf: budget is not unlimited")
	}
}

func TestAddresses(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Port: 5000}, ":5000"},
		{Config{Host: "127.0.0.1", Port: 80}, "127.0.0.1:80"},
		{Config{Port: 80, IPv6: true}, "[::]:80"},
		{Config{Host: "::1", Port: 80}, "[::1]:80"},
		{Config{Port: 80, Listen: []string{":1", "/tmp/a.sock"}}, ":1 /tmp/a.sock"},
		{Config{Port: 80, Socket: "/tmp/b.sock"}, "/tmp/b.sock"},
	} {
		got := spell(t, tc.c)
		if got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.c, got, tc.want)
		}
	}
}

// writePidFile names the pid file in its errors, never the temporary file
// beside it, and never removes a directory as a stale pid file.
func TestWritePidFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := writePidFile(empty, os.Getpid(), -1)
	if err == nil || err.Error() != "--pid: "+empty+" is a directory" {
		t.Errorf("an empty directory: %v", err)
	}
	if st, err := os.Stat(empty); err != nil || !st.IsDir() {
		t.Errorf("the directory given as --pid is gone: %v", err)
	}
	nodir := filepath.Join(dir, "nodir", "x.pid")
	_, _, err = writePidFile(nodir, os.Getpid(), -1)
	if err == nil || !strings.HasPrefix(err.Error(), "--pid: "+nodir+": ") || strings.Contains(err.Error(), ".starlight-pid") {
		t.Errorf("a missing directory: %v; want it to name %s and not the temporary file", err, nodir)
	}
}

// A file at the --pid path that holds something other than a pid is not
// taken for a stale pid file and removed; a stale one is replaced, and so
// is an empty one.
func TestWritePidFileKeepsOtherFiles(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("not a pid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := writePidFile(other, os.Getpid(), -1)
	if err == nil || err.Error() != "--pid: "+other+" exists and is not a pid file: not replaced" || !errors.As(err, new(*OptionError)) {
		t.Errorf("a file holding no pid: %v", err)
	}
	if b, _ := os.ReadFile(other); string(b) != "not a pid\n" {
		t.Errorf("the file now holds %q", b)
	}
	stale := filepath.Join(dir, "stale.pid")
	if err := os.WriteFile(stale, []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	lock, _, err := writePidFile(stale, os.Getpid(), -1)
	if err != nil {
		t.Fatalf("a stale pid file: %v", err)
	}
	lock.Close()
	if b, _ := os.ReadFile(stale); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("the stale pid file holds %q, want %d", b, os.Getpid())
	}
	empty := filepath.Join(dir, "empty.pid")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lock, _, err = writePidFile(empty, os.Getpid(), -1)
	if err != nil {
		t.Fatalf("an empty pid file: %v", err)
	}
	lock.Close()
	if b, _ := os.ReadFile(empty); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("the empty pid file now holds %q, want %d", b, os.Getpid())
	}
}

// spell lists the addresses c binds, space separated.
func spell(t *testing.T, c Config) string {
	t.Helper()
	as, err := c.addresses()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return strings.Join(out, " ")
}
