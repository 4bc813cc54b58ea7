package prefork

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/status"
)

// firstBuild builds the app before anything is bound. SIGTERM, SIGINT
// or SIGQUIT cancels the build and ends the start; other signals wait for
// the loop, which handles them once the master serves.
func (m *Master) firstBuild() error {
	m.info("building %s", m.app.name)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- buildApp(ctx, m.app, m.binary, m.spawner.start) }()
	var held []os.Signal
	defer func() {
		for _, s := range held {
			select {
			case m.sigc <- s:
			default: // full: signals that arrived meanwhile come first
			}
		}
	}()
	var stopped string
	for {
		select {
		case s := <-m.sigc:
			switch {
			case !isStop(s):
				held = append(held, s)
			case stopped == "":
				stopped = signalName(s.(syscall.Signal))
				m.emit(status.Event{Kind: status.EventStopping, Signal: stopped, Message: "received " + stopped + " during the build: stopping"})
				cancel()
			}
		case err := <-done:
			if err != nil && stopped == "" {
				// A Ctrl+C in the terminal reaches go build and the
				// master at once: a build killed by SIGINT waits for
				// the master's copy.
				var wait time.Duration
				if killedByInterrupt(err) {
					wait = time.Second
				}
				stopped = m.stopSignal(wait, &held)
			}
			switch {
			case stopped != "":
				return &StoppedError{Signal: stopped}
			case err != nil:
				return err
			}
			return nil
		}
	}
}

// killedByInterrupt tells a build that SIGINT ended.
func killedByInterrupt(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && (ws.Signaled() && ws.Signal() == syscall.SIGINT || ws.ExitStatus() == 128+int(syscall.SIGINT))
}

// stopSignal waits up to d for SIGTERM, SIGINT or SIGQUIT and returns
// its name, or ""; other signals are added to held.
func (m *Master) stopSignal(d time.Duration, held *[]os.Signal) string {
	timeout := time.After(d)
	for {
		var s os.Signal
		select {
		case s = <-m.sigc: // those already there first
		default:
			select {
			case s = <-m.sigc:
			case <-timeout:
				return ""
			}
		}
		if isStop(s) {
			return signalName(s.(syscall.Signal))
		}
		*held = append(*held, s)
	}
}

func isStop(s os.Signal) bool {
	return s == syscall.SIGTERM || s == syscall.SIGINT || s == syscall.SIGQUIT
}

// StoppedError is a stop asked for before the master served: the exit
// status is 0, and the message says why nothing was served.
type StoppedError struct{ Signal string }

func (e *StoppedError) Error() string {
	return "stopped by " + e.Signal + " before serving"
}
