package prefork

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestPidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.pid")
	lock, _, err := writePidFile(path, os.Getpid(), -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file holds %q", b)
	}
	// Ours is running and holds its lock: a second server is refused and
	// the file kept.
	if _, _, err := writePidFile(path, 1, -1); err == nil || !strings.Contains(err.Error(), "running process "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second write: %v", err)
	}
	// The same pid, but nobody holds the lock: the pid belongs to another
	// process now (a reboot), and the file is stale.
	lock.Close()
	lock, _, err = writePidFile(path, os.Getpid(), -1)
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
	lock, _, err = writePidFile(path, os.Getpid(), -1)
	if err != nil {
		t.Fatalf("stale pid file not replaced: %v", err)
	}
	defer lock.Close()
	other, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	removePidFile(path, other) // not ours: kept
	if _, err := os.Stat(path); err != nil {
		t.Fatal("removed someone else's pid file")
	}
	removePidFile(path, lock)
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("pid file left behind")
	}
	if _, _, err := writePidFile("/nonexistent-dir/x.pid", 1, -1); err == nil {
		t.Fatal("pid file in a missing directory accepted")
	}
}
