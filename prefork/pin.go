package prefork

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// An APP given as an executable is pinned for each generation: the master
// keeps the file open and starts that generation's workers from it, so
// that a deploy which replaces the file (a rename over it, or removal)
// changes what runs only on a reload. Without that, a reload rolled back
// because the new file cannot start would leave generation 1 to be
// respawned (on a recycle, a crash) from the new file, and fail.
//
// The workers exec a symlink named after the app, in the build directory,
// to /proc/self/fd/N: the kernel names the process after the symlink (ps,
// top, pgrep show the app's name), and resolves it to the file held open.
// argv[0] is the app's path, and os.Executable reports it too (Linux names
// the file it was opened as, with " (deleted)" once replaced, which Go
// drops). A script (#!) is run by its path: its interpreter would open
// /proc/self/fd/N after the exec has closed it.

// pinFDMin keeps pinned descriptors above the ones a spawn moves the
// worker's files to (3, 4, ...), which would replace them before the exec.
const pinFDMin = 1000

// pin opens the executable at path for generation gen and returns what to
// spawn: the symlink to it, or path itself for a script or where it cannot
// be pinned (the spawn then reports what is wrong with path).
func (m *Master) pin(path string, gen int) string {
	if m.buildDir == "" {
		return path
	}
	f, err := os.Open(path)
	if err != nil {
		return path
	}
	defer f.Close()
	magic := make([]byte, 4)
	if _, err := io.ReadFull(f, magic); err != nil || !bytes.Equal(magic, []byte("\x7fELF")) {
		return path
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, pinFDMin)
	if err != nil {
		return path
	}
	target := fmt.Sprintf("/proc/self/fd/%d", fd)
	dir := filepath.Join(m.buildDir, "exec-"+strconv.Itoa(gen)) // new: gen only grows
	link := filepath.Join(dir, filepath.Base(path))
	if _, err = os.Stat(target); err == nil { // else no /proc here
		err = os.Mkdir(dir, 0o700)
	}
	if err == nil {
		err = os.Symlink(target, link)
	}
	if err != nil {
		unix.Close(fd)
		return path
	}
	if m.pins == nil {
		m.pins = map[string]int{}
	}
	m.pins[link] = fd
	return link
}

// unpin lets go of a generation's executable (or removes its build).
func (m *Master) unpin(binary string) {
	if fd, ok := m.pins[binary]; ok {
		unix.Close(fd)
		delete(m.pins, binary)
		os.RemoveAll(filepath.Dir(binary))
		return
	}
	if m.buildDir != "" && strings.HasPrefix(binary, m.buildDir+string(os.PathSeparator)) {
		os.Remove(binary)
	}
}

// unpinStale lets go of the pinned executables no spawn can need: those
// of neither the serving generation nor the one rolling out.
func (m *Master) unpinStale() {
	for p := range m.pins {
		if p != m.binary && (m.roll == nil || p != m.roll.binary) {
			m.unpin(p)
		}
	}
}

// appPath names the file a worker of binary runs, for people.
func (m *Master) appPath(binary string) string {
	if _, ok := m.pins[binary]; ok {
		return m.app.binary
	}
	return binary
}
