package prefork

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A symbolic link at the --pid path is refused, whatever it points to, and
// the start would exit 2 (an *OptionError); nothing is written through it.
func TestWritePidFileRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("12\n"), 0o644); err != nil { // a pid: would pass for stale
		t.Fatal(err)
	}
	for name, to := range map[string]string{"file": target, "dangling": filepath.Join(dir, "nothing"), "directory": t.TempDir()} {
		link := filepath.Join(dir, name+".pid")
		if err := os.Symlink(to, link); err != nil {
			t.Fatal(err)
		}
		_, _, err := writePidFile(link, os.Getpid(), -1)
		if err == nil || err.Error() != "--pid: "+link+": a symbolic link: not followed" || !errors.As(err, new(*OptionError)) {
			t.Errorf("a link to a %s: %v, want a refusal (exit 2)", name, err)
		}
		if got, err := os.Readlink(link); err != nil || got != to {
			t.Errorf("the link is now %q (%v)", got, err)
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "12\n" {
		t.Errorf("the link's target holds %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nothing")); !os.IsNotExist(err) {
		t.Errorf("created through the dangling link: %v", err)
	}
}

// The pid file is 0644 less the umask.
func TestWritePidFileUmask(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		umask int
		want  os.FileMode
	}{{0o077, 0o600}, {0o022, 0o644}, {0o027, 0o640}} {
		old := syscall.Umask(tc.umask)
		path := filepath.Join(dir, "app.pid")
		lock, _, err := writePidFile(path, os.Getpid(), -1)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != tc.want {
			t.Errorf("umask %03o: pid file %v %v, want %v", tc.umask, st.Mode().Perm(), err, tc.want)
		}
		removePidFile(path, lock)
		lock.Close()
	}
}

// As root, a stale pid file or socket of a user other than root and the
// one files go to is refused rather than replaced.
func TestRefusesOtherUsersFiles(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	const owner = 4242 // the user files go to
	dir := t.TempDir()
	stale := filepath.Join(dir, "stale.pid")
	if err := os.WriteFile(stale, []byte("999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(stale, 4243, 4243)
	if _, _, err := writePidFile(stale, os.Getpid(), owner); err == nil || !strings.Contains(err.Error(), "belongs to uid 4243, neither root nor uid 4242: not replaced") || !errors.As(err, new(*OptionError)) {
		t.Errorf("a stale pid file of another user: %v", err)
	}
	os.Chown(stale, 4242, 4242) // the user's: replaced
	lock, _, err := writePidFile(stale, os.Getpid(), owner)
	if err != nil {
		t.Errorf("a stale pid file of the user: %v", err)
	} else {
		lock.Close()
	}

	sock := filepath.Join(dir, "s.sock")
	l, err := bindUnix(sock, owner)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(l.fd) // stale now
	os.Chown(sock, 4243, 4243)
	if _, err := bindUnix(sock, owner); err == nil || !strings.Contains(err.Error(), "belongs to uid 4243") {
		t.Errorf("a stale socket of another user: %v", err)
	}
	if st, err := os.Lstat(sock); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Errorf("the other user's socket was removed: %v", err)
	}
}

// A symbolic link at a unix socket's path is refused (exit 2, naming the
// option), never removed as a stale socket.
func TestBindUnixRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "a.sock")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Socket = link
	_, err := bind(&c, -1)
	if err == nil || err.Error() != "--socket: "+link+": a symbolic link: not followed" || !errors.As(err, new(*OptionError)) {
		t.Errorf("-S on a symlink: %v", err)
	}
	if _, err := os.Readlink(link); err != nil {
		t.Errorf("the link is gone: %v", err)
	}
}

// Handing a socket file to the user goes through a descriptor of the very
// file bound: one replaced since by a link to a file of root's is refused,
// and that file keeps its owner.
func TestChownSocketReplaced(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "a.sock")
	l, err := bindUnix(sock, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l.fd)
	id := &identity{uid: 4242, gids: []int{4242}}
	if err := id.chownSocket(l); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Lstat(sock); st.Sys().(*syscall.Stat_t).Uid != 4242 {
		t.Errorf("the socket is not the user's")
	}
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(sock)
	if err := os.Symlink(secret, sock); err != nil {
		t.Fatal(err)
	}
	if err := id.chownSocket(l); err == nil || !strings.Contains(err.Error(), "replaced since it was bound") {
		t.Errorf("a link in the socket's place: %v, want it refused", err)
	}
	if st, _ := os.Stat(secret); st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("root's file was handed to the user through the link")
	}
}

// Descriptors open across exec are marked close-on-exec and listed; those
// close-on-exec already (everything Go opens) are not.
func TestCloseOffInherited(t *testing.T) {
	fd, err := unix.Open(os.DevNull, unix.O_RDONLY, 0) // no O_CLOEXEC: as a shell leaves one
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	marked := closeOffInherited()
	if !slices.Contains(marked, fd) || slices.Contains(marked, int(f.Fd())) {
		t.Errorf("marked %v; want %d among them, and not %d", marked, fd, f.Fd())
	}
	if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d not close-on-exec after: %v", fd, err)
	}
	if again := closeOffInherited(); slices.Contains(again, fd) {
		t.Errorf("fd %d marked twice", fd)
	}
}
