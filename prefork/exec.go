package prefork

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/starlight-go/starlight/internal/proto"
	"golang.org/x/sys/unix"
)

// execInPlace is --max-workers 0: the master replaces itself with the app
// (same pid), which serves alone on the listeners bound here. It returns
// only on failure.
func (m *Master) execInPlace() error {
	spec := m.serverSpec()
	spec.Standalone = true
	spec.ScoreboardFD, spec.DeathFD, spec.ReadyFD = -1, -1, -1
	var files []*os.File
	for _, l := range m.listeners {
		f, err := l.file()
		if err != nil {
			return err
		}
		files = append(files, f)
		spec.Listeners = append(spec.Listeners, proto.Listener{FD: 2 + len(files), Network: l.network, Addr: l.addr, TLS: l.tls})
	}
	if pem, err := m.tlsPEMFile(); err != nil {
		return err
	} else if pem != nil {
		files = append(files, pem)
		spec.TLS.PEMFD = 2 + len(files)
	}
	if m.accessw != nil {
		if m.accessw == m.outw {
			files = append(files, os.Stdout)
		} else {
			files = append(files, m.accessw.f)
		}
		spec.AccessFD = 2 + len(files)
	}
	if m.buildLock != nil {
		// The app holds the build directory's lock from here, so that
		// no other master removes the directory while the app runs, and
		// removes the directory at its exit.
		files = append(files, m.buildLock)
		spec.HeldFDs = append(spec.HeldFDs, 2+len(files))
		spec.Cleanup = append(spec.Cleanup, m.binary, filepath.Join(m.buildDir, buildLockName), m.buildDir)
	}
	if m.pidFile {
		spec.Cleanup = append(spec.Cleanup, m.cfg.PidFile)
		files = append(files, m.pidLock) // the app holds its lock from here
		spec.HeldFDs = append(spec.HeldFDs, 2+len(files))
	}
	for _, l := range m.listeners {
		if l.path != "" {
			spec.Cleanup = append(spec.Cleanup, l.path)
		}
	}
	// Absolute: the app may change its directory before a USR1.
	if m.cfg.AccessLog != "" && m.accessw != m.outw {
		spec.AccessLog, _ = filepath.Abs(m.cfg.AccessLog)
	}
	if m.cfg.ErrorLog != "" {
		spec.ErrorLog, _ = filepath.Abs(m.cfg.ErrorLog)
		if err := unix.Dup2(int(m.errw.f.Fd()), 2); err != nil {
			return fmt.Errorf("--error-log: %w", err)
		}
	}
	env := m.workerEnv(spec.Encode())
	// From here signals are the app's: one that came since setup began
	// and asks for a stop ends the start instead of reaching nobody.
	m.stopSignals()
	if s := m.stopSignal(0, new([]os.Signal)); s != "" {
		return &StoppedError{Signal: s}
	}
	m.info("serving in this process (--max-workers 0): exec %s", m.binary)
	m.flushLogs()

	// The sockets are bound: connections wait for the app to accept them.
	// Tell the launching command (-D) that the app takes over (its pipe
	// moves out of the way of the descriptors first); the app tells
	// systemd itself once it serves.
	if l := m.cfg.Launcher; l != nil {
		if err := l.Execing(); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
	}
	runtime.LockOSThread()
	// Move every file out of the way first, then into 3, 4, ...: a target
	// number may be one of the sources.
	high := make([]int, len(files))
	for i, f := range files {
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 100)
		if err != nil {
			return fmt.Errorf("exec: %w", err)
		}
		high[i] = fd
	}
	for i, fd := range high {
		if err := unix.Dup3(fd, 3+i, 0); err != nil {
			return fmt.Errorf("exec: %w", err)
		}
	}
	argv := append([]string{m.binary}, m.cfg.AppArgs...)
	err := unix.Exec(m.binary, argv, env)
	return fmt.Errorf("exec %s: %w", m.binary, err)
}
