package tui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/term"
	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/prefork"
	"github.com/starlight-go/starlight/status"
)

// Master is what the dashboard needs from the running server.
type Master interface {
	// Snapshot returns the state of the pool. It is cheap and safe to call
	// from any goroutine a few times a second.
	Snapshot() status.Snapshot
	// Do asks the master for something. It does not block.
	Do(status.Command)
}

// Options configure a Dashboard.
type Options struct {
	NoColor bool      // draw no colour; the NO_COLOR environment variable does the same
	Input   io.Reader // the terminal's input; nil means os.Stdin
	Output  io.Writer // the terminal's output; nil means os.Stdout
	// Attached: the dashboard watches a server that runs on its own
	// (starlight attach). q and ctrl+c detach, leaving it running, and
	// so does the terminal going away; Q stops it once confirmed.
	Attached bool
}

const (
	eventQueue = 1024        // events held between two ticks
	logQueue   = maxLogLines // log lines held between two ticks
	tailEvents = 10          // events printed once the dashboard is gone
	tailDetail = 8           // lines of a failed reload's output printed with it
)

// Dashboard is the live terminal dashboard. It implements prefork.Observer:
// the master reports to it from its own goroutines, and Run shows it.
type Dashboard struct {
	opts    Options
	noColor bool
	now     func() time.Time
	loc     *time.Location

	mu     sync.Mutex
	events *ring[status.Event]
	logs   *ring[status.LogLine]
	tail   *ring[status.Event] // the newest events, kept for after Run
}

var _ prefork.Observer = (*Dashboard)(nil)

// New returns a dashboard. It starts to queue what it is told at once, so
// that nothing reported before Run is lost (up to the queues' sizes).
func New(opts Options) *Dashboard {
	return &Dashboard{
		opts:    opts,
		noColor: opts.NoColor || os.Getenv("NO_COLOR") != "",
		now:     time.Now,
		loc:     time.Local,
		events:  newRing[status.Event](eventQueue),
		logs:    newRing[status.LogLine](logQueue),
		tail:    newRing[status.Event](tailEvents),
	}
}

// Event queues an event for the dashboard. It never blocks: when the queue
// is full the oldest event goes.
//
// A failed build's output also goes to the Logs pane in full, as lines of
// no worker: the Events pane shows its first lines only.
func (d *Dashboard) Event(e status.Event) {
	d.mu.Lock()
	d.events.push(e)
	d.tail.push(e)
	if e.Kind == status.EventReloadFailed && e.Detail != "" {
		for _, l := range strings.Split(strings.TrimRight(e.Detail, "\n"), "\n") {
			if strings.TrimSpace(l) != "" {
				d.logs.push(status.LogLine{Time: e.Time, Stream: status.StreamStderr, Text: l})
			}
		}
	}
	d.mu.Unlock()
}

// Log queues a line of worker output for the dashboard. It never blocks:
// when the queue is full the oldest line goes.
func (d *Dashboard) Log(l status.LogLine) {
	d.mu.Lock()
	d.logs.push(l)
	d.mu.Unlock()
}

// take empties the queues; the dashboard's ticks call it.
func (d *Dashboard) take() (events []status.Event, logs []status.LogLine, droppedLogs uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	events, _ = d.events.take()
	logs, droppedLogs = d.logs.take()
	return events, logs, droppedLogs
}

// Run shows the dashboard until done is closed, then restores the terminal
// and prints the last events as plain lines to the output. Attached, it
// also returns when the user detaches, at once.
//
// If the terminal's input fails or ends (the terminal went away), Run asks
// the master to stop (status.CmdStop) and waits for done without drawing.
// Run returns an error only if the terminal could not be set up, or the
// dashboard itself failed; the master is then left running.
func (d *Dashboard) Run(m Master, done <-chan struct{}) error {
	out := d.opts.Output
	if out == nil {
		out = os.Stdout
	}
	in := d.opts.Input
	if in == nil {
		in = os.Stdin
		// Like bubbletea: with stdin redirected, read keys from the terminal.
		if !term.IsTerminal(os.Stdin.Fd()) {
			tty, err := os.Open("/dev/tty")
			if err != nil {
				return fmt.Errorf("tui: no terminal to read keys from: %w", err)
			}
			defer tty.Close() //nolint:errcheck
			in = tty
		}
	}
	// Keys typed before the dashboard was there (during the first build,
	// say) were meant for nothing on screen: a q there must not quit it.
	if f, ok := in.(*os.File); ok && term.IsTerminal(f.Fd()) {
		unix.IoctlSetInt(int(f.Fd()), unix.TCFLSH, unix.TCIFLUSH) //nolint:errcheck // best effort
	}
	watch := newInputWatch(in)

	r := newRenderer(out, d.noColor)
	if !d.noColor {
		// Ask the terminal for its background now: once the program reads
		// the input, the answer would be taken for key presses.
		r.HasDarkBackground()
	}
	mdl := newModel(modelConfig{
		master:   m,
		feed:     d,
		done:     done,
		lost:     watch.lost,
		now:      d.now,
		loc:      d.loc,
		styles:   newStyles(r),
		attached: d.opts.Attached,
	})
	p := tea.NewProgram(mdl,
		tea.WithInput(watch.reader()),
		tea.WithOutput(out),
		tea.WithAltScreen(),
		tea.WithoutSignalHandler(), // signals are the master's
	)
	final, err := p.Run()
	if fm, ok := final.(model); ok && fm.detached {
		return nil
	}

	switch {
	case watch.failed() && d.opts.Attached:
		return nil
	case watch.failed():
		m.Do(status.Command{Kind: status.CmdStop})
	case err != nil:
		return fmt.Errorf("tui: %w", err)
	}
	<-done
	d.printTail(out)
	return nil
}

// printTail writes the newest events as plain lines.
func (d *Dashboard) printTail(out io.Writer) {
	d.mu.Lock()
	events := d.tail.items()
	d.mu.Unlock()
	var b strings.Builder
	for _, e := range events {
		b.WriteString(plainEvent(e, d.loc))
	}
	io.WriteString(out, b.String()) //nolint:errcheck // the terminal may be gone
}

// plainEvent is an event as plain text: a line, then for a failed reload
// the first lines of its output, indented.
func plainEvent(e status.Event, loc *time.Location) string {
	s := fmt.Sprintf("%s %-*s %s\n", e.Time.In(loc).Format("15:04:05"), kindWidth, e.Kind, eventMessage(e))
	if e.Kind == status.EventReloadFailed {
		for _, l := range detailLines(e.Detail, tailDetail, "") {
			s += strings.Repeat(" ", eventIndent) + l + "\n"
		}
	}
	return s
}
