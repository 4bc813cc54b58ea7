package remote

import (
	"fmt"
	"io"
	"sync"

	"github.com/starlight-go/starlight/internal/control"
	"github.com/starlight-go/starlight/status"
	"github.com/starlight-go/starlight/tui"
)

// Attach is `starlight attach [--pid FILE | --control PATH]`: the
// dashboard of a server running on its own. q detaches; the server runs
// on.
func Attach(args []string, stdout, stderr io.Writer) int {
	var t target
	fs := newFlags("attach")
	t.flags(fs)
	help, err := parse(fs, args)
	if err == nil && fs.NArg() > 0 {
		err = &usageError{"unexpected argument " + fs.Arg(0)}
	}
	if err != nil {
		return fail(stderr, "attach", err)
	}
	if help {
		fmt.Fprint(stdout, attachUsage)
		return exitOK
	}
	c, err := t.dial()
	if err != nil {
		return fail(stderr, "attach", err)
	}
	defer c.Close()
	snap, err := c.Snapshot()
	if err != nil {
		return fail(stderr, "attach", err)
	}
	dash := tui.New(tui.Options{Attached: true})
	r := &remoteMaster{c: c, snap: snap, cmds: make(chan status.Command, 64), done: make(chan struct{})}
	if _, err := c.Send(control.Request{Op: control.OpWatch, History: true}); err != nil {
		return fail(stderr, "attach", err)
	}
	go r.read(dash)
	go r.write()
	if err := dash.Run(r, r.done); err != nil {
		return fail(stderr, "attach", err)
	}
	r.mu.Lock()
	lost := r.err
	r.mu.Unlock()
	select {
	case <-r.done:
		if lost != nil {
			fmt.Fprintf(stderr, "starlight attach: the server has gone (%v)\n", lost)
		}
	default:
	}
	return exitOK
}

const attachUsage = `Usage: starlight attach [--pid FILE | --control PATH]

Opens the dashboard of a running server: workers, events (with the last
ones before you attached), logs as they come, and the keys r reload, +/-
scale, a access lines. q detaches and leaves the server running; Q stops
it, once confirmed.
`

// remoteMaster is a running master seen through its control socket, as
// the dashboard needs it: its latest snapshot, and commands that never
// block.
type remoteMaster struct {
	c    *control.Client
	cmds chan status.Command
	done chan struct{} // closed when the connection ends

	mu   sync.Mutex
	snap status.Snapshot
	err  error
}

// Snapshot is the newest snapshot the server sent.
func (r *remoteMaster) Snapshot() status.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snap
}

// Do queues a command for the server; it never blocks (a full queue
// drops it).
func (r *remoteMaster) Do(c status.Command) {
	select {
	case r.cmds <- c:
	default:
	}
}

// read takes what the server sends: snapshots for Snapshot, events and
// log lines for the dashboard.
func (r *remoteMaster) read(dash *tui.Dashboard) {
	defer close(r.done)
	for {
		msg, err := r.c.Recv()
		if err != nil {
			r.mu.Lock()
			r.err = err
			r.mu.Unlock()
			return
		}
		switch msg.Type {
		case control.MsgSnapshot:
			if msg.Snapshot != nil {
				r.mu.Lock()
				r.snap = *msg.Snapshot
				r.mu.Unlock()
			}
		case control.MsgEvent:
			if msg.Event != nil {
				dash.Event(*msg.Event)
			}
		case control.MsgLog:
			if msg.Log != nil {
				dash.Log(*msg.Log)
			}
		}
	}
}

// write sends the queued commands, in order.
func (r *remoteMaster) write() {
	for {
		select {
		case <-r.done:
			return
		case cmd := <-r.cmds:
			if _, err := r.c.Send(control.Request{Op: control.OpCommand, Command: &cmd}); err != nil {
				return
			}
		}
	}
}
