package prefork

import (
	"slices"
	"strings"
	"testing"

	"github.com/starlight-go/starlight/status"
)

// The history keeps the newest items, oldest first.
func TestHistory(t *testing.T) {
	h := newHistory[int](3)
	if got := h.items(); len(got) != 0 {
		t.Errorf("empty: %v", got)
	}
	for i := 1; i <= 5; i++ {
		old, dropped := h.push(i)
		if want := i > 3; dropped != want || (dropped && old != i-3) {
			t.Errorf("push %d: dropped %v (%d)", i, dropped, old)
		}
	}
	if got := h.items(); !slices.Equal(got, []int{3, 4, 5}) {
		t.Errorf("items: %v, want [3 4 5]", got)
	}
	if v, ok := h.pop(); !ok || v != 3 {
		t.Errorf("pop: %d %v", v, ok)
	}
	if got := h.items(); !slices.Equal(got, []int{4, 5}) {
		t.Errorf("after pop: %v", got)
	}
}

// The log lines kept for clients to come are bounded in count and in
// bytes; access lines are not kept; lines and details too long for a
// frame are cut.
func TestControlHistoryBounds(t *testing.T) {
	s := &controlServer{clients: map[*controlClient]struct{}{},
		events: newHistory[status.Event](controlHistoryEvents),
		logs:   newHistory[status.LogLine](controlHistoryLogs)}
	for range controlHistoryLogs + 10 {
		s.Log(status.LogLine{Stream: status.StreamStderr, Text: "x"})
	}
	s.Log(status.LogLine{Stream: status.StreamAccess, Text: "GET /"})
	if n := len(s.logs.items()); n != controlHistoryLogs {
		t.Errorf("%d lines kept, want %d", n, controlHistoryLogs)
	}
	for range 40 {
		s.Log(status.LogLine{Stream: status.StreamStdout, Text: strings.Repeat("y", 60<<10)})
	}
	if s.logBytes > controlHistoryBytes {
		t.Errorf("%d bytes kept, more than %d", s.logBytes, controlHistoryBytes)
	}
	total := 0
	for _, l := range s.logs.items() {
		total += len(l.Text)
		if l.Stream == status.StreamAccess {
			t.Error("an access line was kept")
		}
	}
	if total != s.logBytes {
		t.Errorf("logBytes %d, the lines hold %d", s.logBytes, total)
	}
	s.Log(status.LogLine{Text: strings.Repeat("z", 1<<20)})
	if l := s.logs.items()[s.logs.n-1]; len(l.Text) > controlMaxText+32 {
		t.Errorf("a 1 MiB line kept as %d bytes", len(l.Text))
	}
	for i := range controlHistoryEvents + 5 {
		s.Event(status.Event{Kind: status.EventInfo, Generation: i, Detail: strings.Repeat("d", 1<<20)})
	}
	ev := s.events.items()
	if len(ev) != controlHistoryEvents || ev[0].Generation != 5 || len(ev[0].Detail) > controlMaxDetail+32 {
		t.Errorf("%d events kept, the first of generation %d with %d bytes of detail", len(ev), ev[0].Generation, len(ev[0].Detail))
	}
}
