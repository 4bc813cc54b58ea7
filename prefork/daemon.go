package prefork

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// envDaemon names the fd of the pipe on which a daemon tells the command
// that launched it whether it started.
const envDaemon = "STARLIGHT_DAEMON_FD"

// daemonStartTimeout bounds how long the launching command waits (a first
// build of the app may take a while).
const daemonStartTimeout = 5 * time.Minute

// daemonPipe is set in a daemon until it has reported.
var daemonPipe *os.File

func init() {
	if v := os.Getenv(envDaemon); v != "" {
		os.Unsetenv(envDaemon)
		if fd, err := strconv.Atoi(v); err == nil {
			syscall.CloseOnExec(fd)
			daemonPipe = os.NewFile(uintptr(fd), "daemon")
		}
	}
}

// IsDaemon says whether this process is the daemon a -D command started.
func IsDaemon() bool { return daemonPipe != nil }

// Daemonize starts this command again as a daemon (new session, no
// terminal, stdio on /dev/null) and waits until it serves. It returns the
// status the launching command exits with, and writes why to stderr when
// the daemon failed.
func Daemonize(args []string, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return ExitFailure
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return ExitFailure
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return ExitFailure
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envDaemon+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return ExitFailure
	}
	w.Close()
	null.Close()
	go cmd.Wait() // reap it if it dies while we wait; the parent leaves anyway

	type result struct {
		line    string
		err     error
		execing bool // it said it would exec the app in its place
	}
	got := make(chan result, 1)
	go func() {
		br := bufio.NewReader(r)
		execing := false
		for {
			line, err := br.ReadString('\n')
			line = strings.TrimSpace(line)
			if err == nil && strings.HasPrefix(line, "EXEC ") {
				execing = true // then EOF, or an ERROR if the exec failed
				continue
			}
			got <- result{line, err, execing}
			return
		}
	}()
	select {
	case res := <-got:
		switch {
		case strings.HasPrefix(res.line, "READY"):
			return ExitOK
		case res.line == "" && res.execing:
			return ExitOK // the exec closed the pipe: the app runs
		case strings.HasPrefix(res.line, "ERROR "):
			fmt.Fprintf(stderr, "starlight: daemon failed to start: %s\n", strings.TrimPrefix(res.line, "ERROR "))
		default:
			fmt.Fprintf(stderr, "starlight: daemon (pid %d) exited before it was serving; see --error-log\n", cmd.Process.Pid)
		}
	case <-time.After(daemonStartTimeout):
		fmt.Fprintf(stderr, "starlight: daemon (pid %d) not serving after %s; stopping it\n", cmd.Process.Pid, daemonStartTimeout)
		cmd.Process.Signal(syscall.SIGTERM)
	}
	return ExitFailure
}

// daemonReport tells the launching command how the start went, once.
func daemonReport(err error) {
	if daemonPipe == nil {
		return
	}
	if err != nil {
		fmt.Fprintf(daemonPipe, "ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		fmt.Fprintf(daemonPipe, "READY %d\n", os.Getpid())
	}
	daemonPipe.Close()
	daemonPipe = nil
}

// daemonExecing tells the launching command that this process is about to
// exec the app in its place (--max-workers 0). The pipe moves out of the
// way of the descriptors the app gets (to 100 and up, close-on-exec): a
// successful exec closes it, which the launching command takes for
// success; a failed one reports its error on it.
func daemonExecing() error {
	if daemonPipe == nil {
		return nil
	}
	fd, err := unix.FcntlInt(daemonPipe.Fd(), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return err
	}
	daemonPipe.Close()
	daemonPipe = os.NewFile(uintptr(fd), "daemon")
	_, err = fmt.Fprintf(daemonPipe, "EXEC %d\n", os.Getpid())
	return err
}

// DaemonFailed reports a start failure to the launching command.
func DaemonFailed(err error) { daemonReport(err) }
