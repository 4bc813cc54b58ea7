package remote

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/control"
	"github.com/starlight-go/starlight/status"
)

// Bounds of ctl's waits.
const (
	scaleWait = 60 * time.Second // for the pool to reach its new size
	stopWait  = 10 * time.Second // for the master's process to end once it has hung up
)

const ctlUsage = `Usage: starlight ctl [--pid FILE | --control PATH] ACTION

Asks a running server to act, and exits 0 once it has:
  reload     slow restart; exits once the new generation serves on every
             worker, or 1 with the reason if it rolled back
  scale N    N workers (scale +1, scale -1: one more, one fewer); exits
             once as many serve
  stop       graceful stop; exits once the server has stopped
  reopen     reopen the log files
`

// Ctl is `starlight ctl [--pid FILE | --control PATH] ACTION`.
func Ctl(args []string, stdout, stderr io.Writer) int {
	// "scale -1" is no option: take the action out before the flags.
	var action []string
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case len(action) > 0 || strings.HasPrefix(a, "-"):
			if len(action) == 1 && action[0] == "scale" && len(a) > 1 && (a[0] == '-' || a[0] == '+') && isDigits(a[1:]) {
				action = append(action, a)
				continue
			}
			rest = append(rest, a)
			if (a == "--pid" || a == "--control") && i+1 < len(args) {
				i++
				rest = append(rest, args[i])
			}
		default:
			action = append(action, a)
			if a == "scale" && i+1 < len(args) {
				i++
				action = append(action, args[i])
			}
		}
	}
	var t target
	fs := newFlags("ctl")
	t.flags(fs)
	help, err := parse(fs, rest)
	if err == nil && fs.NArg() > 0 {
		err = &usageError{"unexpected argument " + fs.Arg(0)}
	}
	if err != nil {
		return fail(stderr, "ctl", err)
	}
	if help {
		fmt.Fprint(stdout, ctlUsage)
		return exitOK
	}
	if len(action) == 0 {
		return fail(stderr, "ctl", &usageError{"an action is needed: reload, scale N, stop or reopen"})
	}
	var run func(*control.Client, io.Writer) error
	switch action[0] {
	case "reload":
		run = ctlReload
	case "stop":
		run = ctlStop
	case "reopen":
		run = ctlReopen
	case "scale":
		if len(action) < 2 {
			return fail(stderr, "ctl", &usageError{"scale: how many? scale N, scale +1 or scale -1"})
		}
		n, err := strconv.Atoi(action[1])
		if err != nil {
			return fail(stderr, "ctl", &usageError{fmt.Sprintf("scale: not a number: %q", action[1])})
		}
		relative := action[1][0] == '+' || action[1][0] == '-'
		run = func(c *control.Client, w io.Writer) error { return ctlScale(c, w, n, relative) }
	default:
		return fail(stderr, "ctl", &usageError{fmt.Sprintf("unknown action %q: reload, scale N, stop or reopen", action[0])})
	}
	if (action[0] == "scale" && len(action) > 2) || (action[0] != "scale" && len(action) > 1) {
		return fail(stderr, "ctl", &usageError{"unexpected argument " + action[len(action)-1]})
	}
	c, err := t.dial()
	if err != nil {
		return fail(stderr, "ctl", err)
	}
	defer c.Close()
	if err := run(c, stdout); err != nil {
		return fail(stderr, "ctl "+action[0], err)
	}
	return exitOK
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// say prints what the master reported while it acted.
func say(w io.Writer, events []status.Event) {
	for _, e := range events {
		if e.Kind != status.EventSignal {
			fmt.Fprintf(w, "starlight: %s\n", e.Message)
		}
	}
}

// ctlReload reloads and follows the rollout to its end.
func ctlReload(c *control.Client, w io.Writer) error {
	// Watch first, so that no event of the reload is missed.
	watchID, err := c.Send(control.Request{Op: control.OpWatch})
	if err != nil {
		return err
	}
	cmd := status.Command{Kind: status.CmdReload}
	cmdID, err := c.Send(control.Request{Op: control.OpCommand, Command: &cmd})
	if err != nil {
		return err
	}
	_ = watchID
	gen := 0 // the generation followed, once known
	var early []status.Event
	// decide says whether e ends the reload followed: nil for success.
	decide := func(e status.Event) (bool, error) {
		switch {
		case e.Kind == status.EventReloadStarted && e.Generation > gen:
			gen = e.Generation // a newer reload supersedes it
			fmt.Fprintf(w, "starlight: %s\n", e.Message)
		case e.Kind == status.EventReloadBuilt && e.Generation == gen:
			fmt.Fprintf(w, "starlight: %s\n", e.Message)
		case e.Kind == status.EventReloadFinished && e.Generation >= gen:
			fmt.Fprintf(w, "starlight: %s\n", e.Message)
			return true, nil
		case e.Kind == status.EventReloadFailed && e.Generation == gen:
			return true, errors.New(e.Message)
		case e.Kind == status.EventStopping:
			return true, errors.New("the server is stopping: " + e.Message)
		}
		return false, nil
	}
	for {
		msg, err := c.Recv()
		if err != nil {
			return fmt.Errorf("the server went away during the reload (%v)", err)
		}
		switch {
		case msg.Type == control.MsgError:
			return errors.New(msg.Error)
		case msg.Type == control.MsgDone && msg.ID == cmdID:
			for _, e := range msg.Done.Events {
				if e.Kind == status.EventReloadStarted {
					gen = e.Generation
					fmt.Fprintf(w, "starlight: %s\n", e.Message)
				}
			}
			if gen == 0 {
				say(w, msg.Done.Events)
				return errors.New("no reload started")
			}
			for _, e := range early {
				if end, err := decide(e); end {
					return err
				}
			}
			early = nil
		case msg.Type == control.MsgEvent && msg.Event != nil:
			if gen == 0 {
				early = append(early, *msg.Event)
				continue
			}
			if end, err := decide(*msg.Event); end {
				return err
			}
		}
	}
}

// ctlScale sets the target and waits until as many workers serve.
func ctlScale(c *control.Client, w io.Writer, n int, relative bool) error {
	cmd := status.Command{Kind: status.CmdScale, Workers: n}
	if relative {
		snap, err := c.Snapshot()
		if err != nil {
			return err
		}
		cmd.Workers = snap.Target + n
	}
	d, err := c.Do(cmd)
	if err != nil {
		return err
	}
	say(w, d.Events)
	if d.Target != cmd.Workers {
		return fmt.Errorf("the server keeps %d workers", d.Target)
	}
	deadline := time.Now().Add(scaleWait)
	for {
		snap, err := c.Snapshot()
		if err != nil {
			return err
		}
		serving := 0
		for _, wi := range snap.Workers {
			if wi.State == status.StateIdle || wi.State == status.StateBusy {
				serving++
			}
		}
		if serving == cmd.Workers && snap.Target == cmd.Workers {
			return nil
		}
		if snap.Target != cmd.Workers {
			return fmt.Errorf("the target changed meanwhile, to %d workers", snap.Target)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d workers serve after %s, not %d", serving, scaleWait, cmd.Workers)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ctlStop asks for a graceful stop and waits until the master is gone.
func ctlStop(c *control.Client, w io.Writer) error {
	pid := c.Hello.PID
	d, err := c.Do(status.Command{Kind: status.CmdStop})
	if err != nil {
		return err
	}
	say(w, d.Events)
	// The master hangs up as it exits.
	for {
		if _, err := c.Recv(); err != nil {
			break
		}
	}
	deadline := time.Now().Add(stopWait)
	for running(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d still runs %s after it hung up", pid, stopWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintln(w, "starlight: stopped")
	return nil
}

// running says whether process pid runs (a zombie has ended).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // no /proc: the signal said it is there
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// ctlReopen reopens the log files.
func ctlReopen(c *control.Client, w io.Writer) error {
	d, err := c.Do(status.Command{Kind: status.CmdReopen})
	if err != nil {
		return err
	}
	var failed []string
	for _, e := range d.Events {
		if e.Kind == status.EventError {
			failed = append(failed, e.Message)
		} else {
			fmt.Fprintf(w, "starlight: %s\n", e.Message)
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}
