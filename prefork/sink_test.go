package prefork

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPumpKeepsLinesWhole(t *testing.T) {
	var mu sync.Mutex
	var got []string
	var out strings.Builder
	s := &sink{w: &out}
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		pump(r, s, func(l string) { mu.Lock(); got = append(got, l); mu.Unlock() }, nil)
		close(done)
	}()
	long := strings.Repeat("x", 70<<10)
	huge := strings.Repeat("y", maxLine+5000)
	io.WriteString(w, "one\ntw")
	io.WriteString(w, "o\nthree\r\n")
	io.WriteString(w, long+"\n")
	io.WriteString(w, huge+"\nafter\n")
	io.WriteString(w, "tail without newline")
	w.Close()
	<-done
	want := "one\ntwo\nthree\r\n" + long + "\n" + huge[:maxLine] + string(cutMark) + "after\n" + "tail without newline"
	if out.String() != want {
		t.Fatalf("sink got %d bytes, want %d", out.Len(), len(want))
	}
	if len(got) != 7 || got[3] != long {
		t.Fatalf("%d lines; a long line was split", len(got))
	}
	joined := strings.Join(got, "|")
	if !strings.HasPrefix(joined, "one|two|three|") || !strings.HasSuffix(joined, "|tail without newline") {
		t.Fatalf("lines %q", joined[:40])
	}
}

// gate is a writer that takes nothing until opened: a log nobody reads.
type gate struct {
	open    chan struct{}
	entered chan struct{} // a write waits at the gate
	once    sync.Once
	mu      sync.Mutex
	out     strings.Builder
}

func (g *gate) Write(p []byte) (int, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.out.Write(p)
}

// A sink in the background never blocks its writers: while its
// destination takes nothing, writes beyond the queue's room are dropped;
// once it takes writes again, it gets those queued, in order, and a line
// that counts those dropped.
func TestSinkDropsWhatAStalledLogMisses(t *testing.T) {
	g := &gate{open: make(chan struct{}), entered: make(chan struct{})}
	s := &sink{w: g}
	s.background()
	const n = sinkQueueLen + 100
	s.Write([]byte("line 0\n"))
	<-g.entered // the sink's goroutine holds line 0 at the gate
	for i := 1; i < n; i++ {
		s.Write([]byte("line " + strconv.Itoa(i) + "\n")) // never blocks
	}
	close(g.open)
	if !s.flush(time.Now().Add(10 * time.Second)) {
		t.Fatal("flush did not end once the log took writes again")
	}
	g.mu.Lock()
	got := g.out.String()
	g.mu.Unlock()
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	// The writer goroutine held one write (line 0) while the gate was
	// shut, and the queue the next ones: the rest were dropped, and the
	// count comes as soon as the log takes writes again.
	var kept []string
	count := ""
	for _, l := range lines {
		if strings.Contains(l, " dropped: ") {
			count = l
			continue
		}
		kept = append(kept, l)
	}
	for i, l := range kept {
		if l != "line "+strconv.Itoa(i) {
			t.Fatalf("line %d written is %q, want %q", i, l, "line "+strconv.Itoa(i))
		}
	}
	dropped := n - len(kept)
	if want := " starlight: " + strconv.Itoa(dropped) + " writes to this log dropped: it did not keep up"; !strings.HasSuffix(count, want) || dropped != 99 || lines[1] != count {
		t.Errorf("%d lines kept of %d; count line %q (line 2 of the log: %q), want one ending %q", len(kept), n, count, lines[1], want)
	}
}

// USR1's reopen never waits for a write that does not end: the new file is
// swapped in behind the writes queued before it.
func TestSinkReopenWhileStalled(t *testing.T) {
	g := &gate{open: make(chan struct{}), entered: make(chan struct{})}
	path := filepath.Join(t.TempDir(), "error.log")
	s := &sink{w: g, path: path}
	s.background()
	s.Write([]byte("before\n"))
	<-g.entered // stuck writing "before"
	done := make(chan error, 1)
	go func() { done <- s.reopen() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reopen waits for the stalled write")
	}
	s.Write([]byte("after\n"))
	close(g.open)
	if !s.flush(time.Now().Add(10 * time.Second)) {
		t.Fatal("flush did not end")
	}
	b, _ := os.ReadFile(path)
	g.mu.Lock()
	old := g.out.String()
	g.mu.Unlock()
	if string(b) != "after\n" || old != "before\n" {
		t.Errorf("reopened file has %q, the old one %q; want %q and %q", b, old, "after\n", "before\n")
	}
}
