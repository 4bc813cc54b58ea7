// Package daemon is starlight's -D: the command starts itself again in a
// new session and waits on a pipe until the daemon says it serves (or why
// it could not start).
package daemon

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

// Exit statuses of the launching command.
const (
	exitOK      = 0
	exitFailure = 1
)

// Pipe is the daemon's end of the pipe to the command that launched it.
// It implements prefork.Launcher; a nil *Pipe (not a daemon) does nothing.
type Pipe struct{ f *os.File }

// FromEnv returns the pipe of a daemon that a -D command started, or nil,
// and takes its variable out of the environment (the app's workers are
// no daemons).
func FromEnv() *Pipe {
	v, ok := os.LookupEnv(envDaemon)
	if !ok {
		return nil
	}
	os.Unsetenv(envDaemon)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	syscall.CloseOnExec(fd)
	return &Pipe{f: os.NewFile(uintptr(fd), "daemon")}
}

// Start starts this command again as a daemon (new session, no
// terminal, stdio on /dev/null) and waits until it serves. It returns the
// status the launching command exits with, and writes why to stderr when
// the daemon failed.
func Start(args []string, stderr io.Writer) int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return exitFailure
	}
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return exitFailure
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return exitFailure
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), envDaemon+"=3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, null
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "starlight: --daemonize: %v\n", err)
		return exitFailure
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
			return exitOK
		case res.line == "" && res.execing:
			return exitOK // the exec closed the pipe: the app runs
		case strings.HasPrefix(res.line, "ERROR "):
			fmt.Fprintf(stderr, "starlight: daemon failed to start: %s\n", strings.TrimPrefix(res.line, "ERROR "))
		default:
			fmt.Fprintf(stderr, "starlight: daemon (pid %d) exited before it was serving; see --error-log\n", cmd.Process.Pid)
		}
	case <-time.After(daemonStartTimeout):
		fmt.Fprintf(stderr, "starlight: daemon (pid %d) not serving after %s; stopping it\n", cmd.Process.Pid, daemonStartTimeout)
		cmd.Process.Signal(syscall.SIGTERM)
	}
	return exitFailure
}

// Ready tells the launching command that the daemon serves.
func (p *Pipe) Ready() { p.report(nil) }

// Failed tells the launching command why the daemon did not start.
func (p *Pipe) Failed(err error) { p.report(err) }

// report tells the launching command how the start went, once.
func (p *Pipe) report(err error) {
	if p == nil || p.f == nil {
		return
	}
	if err != nil {
		fmt.Fprintf(p.f, "ERROR %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		fmt.Fprintf(p.f, "READY %d\n", os.Getpid())
	}
	p.f.Close()
	p.f = nil
}

// Execing tells the launching command that this process is about to exec
// the app in its place (--max-workers 0). The pipe moves out of the way of
// the descriptors the app gets (to 100 and up, close-on-exec): a
// successful exec closes it, which the launching command takes for
// success; a failed one reports its error on it.
func (p *Pipe) Execing() error {
	if p == nil || p.f == nil {
		return nil
	}
	fd, err := unix.FcntlInt(p.f.Fd(), unix.F_DUPFD_CLOEXEC, 100)
	if err != nil {
		return err
	}
	p.f.Close()
	p.f = os.NewFile(uintptr(fd), "daemon")
	_, err = fmt.Fprintf(p.f, "EXEC %d\n", os.Getpid())
	return err
}
