package prefork

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"

	"golang.org/x/sys/unix"
)

var trapped = []os.Signal{
	syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT,
	syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1,
}

func (m *Master) trapSignals() {
	signal.Notify(m.sigc, trapped...)
	// The master's stderr may be a pipe that closes (a log shipper
	// restarting, `starlight ... | head`). Go kills a program writing to
	// a closed stdout or stderr with SIGPIPE unless it handles SIGPIPE;
	// handled, the write fails and the master serves on. A handler,
	// unlike ignoring the signal, is not inherited through exec by the
	// workers. It stays for the rest of the process: the last message
	// comes after the stop.
	signal.Notify(brokenPipes, syscall.SIGPIPE)
}

// brokenPipes receives SIGPIPE, and nobody reads it: one is kept, the
// rest dropped.
var brokenPipes = make(chan os.Signal, 1)

func (m *Master) stopSignals() { signal.Stop(m.sigc) }

// signal handles a signal sent to the master.
func (m *Master) signal(s os.Signal) {
	sig := s.(syscall.Signal)
	name := signalName(sig)
	m.emit(status.Event{Kind: status.EventSignal, Signal: name, Message: "received " + name})
	switch sig {
	case syscall.SIGHUP:
		if m.cfg.HangupMayBeTerminal && !m.terminalAlive() {
			m.stop(false, "the terminal went away")
			return
		}
		m.reload("SIGHUP")
	case syscall.SIGTERM, syscall.SIGINT:
		m.stop(m.stopping > 0, name)
	case syscall.SIGQUIT:
		m.stop(true, name)
	case syscall.SIGTTIN:
		m.scale(+1)
	case syscall.SIGTTOU:
		m.scale(-1)
	case syscall.SIGUSR1:
		m.reopenLogs()
	}
}

// command handles a request from a user interface.
func (m *Master) command(c status.Command) {
	switch c.Kind {
	case status.CmdReload:
		m.reload("asked")
	case status.CmdScaleUp:
		m.scale(+1)
	case status.CmdScaleDown:
		m.scale(-1)
	case status.CmdScale:
		m.scale(c.Workers - m.target)
	case status.CmdStop:
		m.stop(false, "asked")
	case status.CmdForceStop:
		m.stop(true, "asked")
	case status.CmdReopen:
		m.reopenLogs()
	case status.CmdRecycle:
		m.recycleWorker(c.PID)
	case status.CmdKill:
		m.killWorker(c.PID)
	case status.CmdAccessOn, status.CmdAccessOff:
		m.accessShown = c.Kind == status.CmdAccessOn
		flags := m.slotFlags()
		for i := range m.board.InUse() {
			m.board.Slot(i).Flags.Store(flags)
		}
	}
}

// slotFlags is what the workers are asked to do: access-log lines are
// formatted only when a file or a dashboard showing them takes them, so
// a dashboard with the access log hidden costs the workers nothing.
func (m *Master) slotFlags() uint32 {
	var f uint32
	if m.accessw != nil || m.accessShown {
		f |= scoreboard.FlagAccessLog
	}
	return f
}

func (m *Master) scale(by int) {
	n := m.target + by
	if m.stopping > 0 {
		m.emit(status.Event{Kind: status.EventScaled, Message: fmt.Sprintf("workers stay at %d: stopping", m.target)})
		return
	}
	if n < 1 || n > MaxWorkers {
		m.emit(status.Event{Kind: status.EventScaled, Message: fmt.Sprintf("workers stay at %d (between 1 and %d)", m.target, MaxWorkers)})
		return
	}
	m.target = n
	m.emit(status.Event{Kind: status.EventScaled, Message: fmt.Sprintf("workers: %d", n)})
}

func (m *Master) reopenLogs() {
	files, failed := 0, 0
	for _, s := range []*sink{m.errw, m.accessw} {
		if s == nil || s.path == "" {
			continue
		}
		files++
		if err := s.reopen(); err != nil {
			failed++
			m.emit(status.Event{Kind: status.EventError, Message: err.Error() + "; the file open before stays in use"})
		}
	}
	switch {
	case files == 0:
		m.info("no log file to reopen (--error-log, --access-log)")
	case failed == 0:
		m.info("log files reopened")
	case failed < files:
		m.info("the other log file reopened")
	}
}

// terminalAlive tells a hangup of the dashboard's terminal from a SIGHUP
// sent to ask for a reload: after a hangup the terminal answers no ioctl.
func (m *Master) terminalAlive() bool {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil
}

// signalName is "SIGTERM" for syscall.SIGTERM.
func signalName(s syscall.Signal) string {
	n := unix.SignalName(s)
	if n == "" {
		return fmt.Sprintf("signal %d", int(s))
	}
	return strings.ToUpper(n)
}
