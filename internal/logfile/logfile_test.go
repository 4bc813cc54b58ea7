package logfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A log is created, or appended to, at its path; a symbolic link there is
// never followed, whatever it points to, and what it points to is left as
// it was.
func TestOpenRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, to := range map[string]string{"file": target, "dangling": filepath.Join(dir, "nothing"), "directory": sub} {
		link := filepath.Join(dir, name+".log")
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
		f, err := Open(link, -1)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, ErrSymlink) || err.Error() != "open "+link+": a symbolic link: not followed" {
			t.Errorf("a link to a %s: %v, want ErrSymlink", name, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "kept\n" {
		t.Errorf("the link's target now holds %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nothing")); !os.IsNotExist(err) {
		t.Errorf("a file was created through the dangling link: %v", err)
	}

	path := filepath.Join(dir, "new.log")
	f, err := Open(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("one\n")
	f.Close()
	if f, err = Open(path, -1); err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\n")
	f.Close()
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Errorf("the log holds %q, want both lines appended", b)
	}
}

// What is neither a log file nor a pipe is refused: a directory, a unix
// socket, a file with another link (another file of root's, linked into
// the log's directory). /dev/null is a fine log.
func TestOpenRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir, -1); err == nil || !errors.Is(err, syscall.EISDIR) {
		t.Errorf("a directory: %v", err)
	}
	file := filepath.Join(dir, "a.log")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(file, filepath.Join(dir, "b.log")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(file, -1); !errors.Is(err, ErrHardLinked) {
		t.Errorf("a file with two links: %v, want ErrHardLinked", err)
	}
	if f, err := Open(os.DevNull, -1); err != nil {
		t.Errorf("%s: %v", os.DevNull, err)
	} else {
		f.Close()
	}
}

// As root, a file of a user other than root and the one given is refused;
// root's and the user's are taken.
func TestOpenOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		owner, user int
		ok          bool
	}{
		{0, -1, true}, {0, 4242, true}, {4242, 4242, true}, {4243, 4242, false}, {4243, -1, false},
	} {
		path := filepath.Join(dir, "owned.log")
		os.Remove(path)
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, tc.owner, tc.owner); err != nil {
			t.Fatal(err)
		}
		f, err := Open(path, tc.user)
		if err == nil {
			f.Close()
		}
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "belongs to uid 4243")) {
			t.Errorf("a file of uid %d for user %d: %v, want ok %v", tc.owner, tc.user, err, tc.ok)
		}
	}
}
