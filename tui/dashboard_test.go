package tui

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/starlight-go/starlight/status"
)

// Event and Log return at once even when nobody takes from the queues.
func TestObserverNeverBlocks(t *testing.T) {
	d := New(Options{NoColor: true})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 100_000; i++ {
					d.Event(status.Event{Kind: status.EventInfo, Message: "x"})
					d.Log(status.LogLine{PID: g, Text: "y"})
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-finished:
	case <-time.After(20 * time.Second):
		t.Fatal("Event/Log blocked with nobody draining")
	}
	events, logs, dropped := d.take()
	if len(events) != eventQueue || len(logs) != logQueue {
		t.Errorf("queues hold %d events and %d lines, want %d and %d", len(events), len(logs), eventQueue, logQueue)
	}
	if dropped != 4*100_000-logQueue {
		t.Errorf("dropped %d lines, want %d", dropped, 4*100_000-logQueue)
	}
	if events, logs, _ := d.take(); len(events)+len(logs) != 0 {
		t.Error("take did not empty the queues")
	}
}

func TestRing(t *testing.T) {
	r := newRing[int](3)
	for i := 1; i <= 5; i++ {
		r.push(i)
	}
	if got := r.items(); fmt.Sprint(got) != "[3 4 5]" {
		t.Errorf("items = %v, want [3 4 5]", got)
	}
	got, dropped := r.take()
	if fmt.Sprint(got) != "[3 4 5]" || dropped != 2 || r.len() != 0 {
		t.Errorf("take = %v, %d dropped, %d left", got, dropped, r.len())
	}
	r.push(6)
	if got := r.items(); fmt.Sprint(got) != "[6]" {
		t.Errorf("after take items = %v", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the program's writes and the test's
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func runDashboard(t *testing.T, d *Dashboard, m Master, done chan struct{}) <-chan error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(m, done) }()
	return errc
}

// lastLines are the events printed after the dashboard is gone: plain text
// after the last escape sequence.
func afterLastEscape(s string) string {
	if i := strings.LastIndex(s, "\x1b"); i >= 0 {
		rest := s[i:]
		if j := strings.IndexAny(rest, "hlmHJKABCDsu"); j >= 0 {
			return rest[j+1:]
		}
	}
	return s
}

func TestRunKeysThenDone(t *testing.T) {
	in, keys := io.Pipe()
	defer keys.Close()
	out := &syncBuffer{}
	d := New(Options{NoColor: true, Input: in, Output: out})
	for i := 0; i < 15; i++ {
		d.Event(status.Event{Time: t0.Add(time.Duration(i) * time.Second), Kind: status.EventSpawned, Message: fmt.Sprintf("worker %d", i)})
	}
	d.Event(status.Event{Time: t0.Add(time.Minute), Kind: status.EventReloadFailed, Message: "build failed",
		Detail: "./main.go:3:1: syntax error"})
	d.loc = time.UTC

	m := &fakeMaster{snap: fixtureSnapshot(t0, 1), cmdCh: make(chan status.CommandKind, 8), snapshots: make(chan struct{}, 1)}
	done := make(chan struct{})
	errc := runDashboard(t, d, m, done)

	waitFor(t, m.snapshots, "the first snapshot")
	for _, k := range []string{"r", "q", "\x03"} {
		if _, err := keys.Write([]byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []status.CommandKind{status.CmdReload, status.CmdStop, status.CmdForceStop} {
		if got := waitFor(t, m.cmdCh, string(want)); got != want {
			t.Errorf("got command %s, want %s", got, want)
		}
	}
	close(done)
	if err := waitFor(t, errc, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}

	o := out.String()
	if !strings.Contains(o, "\x1b[?1049h") || !strings.Contains(o, "\x1b[?1049l") {
		t.Error("alternate screen not entered and left")
	}
	tail := afterLastEscape(o)
	want := "09:26:59 spawned         worker 6\n"
	if !strings.HasPrefix(tail, want) {
		t.Errorf("plain events after the dashboard start %q, want %q", firstLine(tail), want)
	}
	if !strings.HasSuffix(tail, "09:27:53 reload-failed   build failed\n"+strings.Repeat(" ", eventIndent)+"./main.go:3:1: syntax error\n") {
		t.Errorf("plain events end wrong:\n%s", tail)
	}
	if n := strings.Count(tail, "\n"); n != tailEvents+1 {
		t.Errorf("%d plain lines printed, want %d", n, tailEvents+1)
	}
	if ansi.Strip(tail) != tail {
		t.Error("escape sequences in the plain events")
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// When the terminal's input ends, Run asks the master to stop and returns
// once the master is done.
func TestRunInputLost(t *testing.T) {
	out := &syncBuffer{}
	d := New(Options{NoColor: true, Input: strings.NewReader(""), Output: out})
	d.Event(status.Event{Time: t0, Kind: status.EventStopping, Message: "stopping: terminal gone"})
	m := &fakeMaster{snap: fixtureSnapshot(t0, 1), cmdCh: make(chan status.CommandKind, 8)}
	done := make(chan struct{})
	errc := runDashboard(t, d, m, done)

	if got := waitFor(t, m.cmdCh, "a stop"); got != status.CmdStop {
		t.Fatalf("got %s, want stop", got)
	}
	select {
	case err := <-errc:
		t.Fatalf("Run returned (%v) before the master was done", err)
	default:
	}
	close(done)
	if err := waitFor(t, errc, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(out.String(), "stopping: terminal gone") {
		t.Error("events not printed after the input was lost")
	}
}

// A master that has finished before Run starts just gets its events
// printed.
func TestRunDoneAlready(t *testing.T) {
	in, keys := io.Pipe()
	defer keys.Close()
	out := &syncBuffer{}
	d := New(Options{NoColor: true, Input: in, Output: out})
	d.Event(status.Event{Time: t0, Kind: status.EventStarted, Message: "serving"})
	done := make(chan struct{})
	close(done)
	errc := runDashboard(t, d, &fakeMaster{}, done)
	if err := waitFor(t, errc, "Run to return"); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.HasSuffix(out.String(), "serving\n") {
		t.Errorf("output ends %q", out.String()[max(0, len(out.String())-60):])
	}
}

func TestPlainEvent(t *testing.T) {
	e := status.Event{Time: t0, Kind: status.EventCrashed, PID: 12, Slot: 3, ExitCode: 2, Detail: "ignored"}
	if got, want := plainEvent(e, time.UTC), "09:26:53 crashed         worker 12 (slot 3), exit status 2\n"; got != want {
		t.Errorf("plainEvent = %q, want %q", got, want)
	}
	e = status.Event{Time: t0, Kind: status.EventSignal, Signal: "SIGTERM", Message: "got \x1b[1mSIGTERM\x1b[0m\nsecond line"}
	if got, want := plainEvent(e, time.UTC), "09:26:53 signal          got SIGTERM\n"; got != want {
		t.Errorf("plainEvent = %q, want %q", got, want)
	}
}
