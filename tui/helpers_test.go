package tui

import (
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/starlight-go/starlight/status"
)

// fakeMaster records the commands it is given and serves a snapshot the
// test sets.
type fakeMaster struct {
	mu        sync.Mutex
	snap      status.Snapshot
	full      []status.Command
	cmds      []status.CommandKind
	cmdCh     chan status.CommandKind // every command, if not nil
	snapshots chan struct{}           // a token per Snapshot call, if not nil
}

func (f *fakeMaster) Snapshot() status.Snapshot {
	f.mu.Lock()
	s := f.snap
	f.mu.Unlock()
	if f.snapshots != nil {
		select {
		case f.snapshots <- struct{}{}:
		default:
		}
	}
	return s
}

func (f *fakeMaster) Do(c status.Command) {
	f.mu.Lock()
	f.cmds = append(f.cmds, c.Kind)
	f.full = append(f.full, c)
	f.mu.Unlock()
	if f.cmdCh != nil {
		f.cmdCh <- c.Kind
	}
}

func (f *fakeMaster) set(s status.Snapshot) {
	f.mu.Lock()
	f.snap = s
	f.mu.Unlock()
}

func (f *fakeMaster) commandsFull() []status.Command {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]status.Command(nil), f.full...)
}

func (f *fakeMaster) commands() []status.CommandKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]status.CommandKind(nil), f.cmds...)
}

// t0 is the fixed "now" of the fixtures.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// harness is a model wired to a fake master and a dashboard's queues, with
// a clock the test moves.
type harness struct {
	t      *testing.T
	master *fakeMaster
	dash   *Dashboard
	clock  time.Time
	m      model
}

func newHarness(t *testing.T, w, h int) *harness {
	t.Helper()
	return newHarnessStyled(t, w, h, newStyles(newRenderer(io.Discard, true)))
}

func newHarnessStyled(t *testing.T, w, h int, st *styles) *harness {
	t.Helper()
	hs := &harness{t: t, master: &fakeMaster{}, dash: New(Options{NoColor: true}), clock: t0}
	hs.m = newModel(modelConfig{
		master: hs.master,
		feed:   hs.dash,
		done:   make(chan struct{}),
		now:    func() time.Time { return hs.clock },
		loc:    time.UTC,
		styles: st,
	})
	hs.send(tea.WindowSizeMsg{Width: w, Height: h})
	return hs
}

// send gives the model a message and runs the command it returns, unless
// it is the next tick (which would wait).
func (hs *harness) send(msg tea.Msg) {
	hs.t.Helper()
	next, cmd := hs.m.Update(msg)
	hs.m = next.(model)
	if _, isTick := msg.(tickMsg); cmd != nil && !isTick {
		runCmd(cmd)
	}
}

// runCmd runs a command and what it batches, synchronously.
func runCmd(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	msg := cmd()
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, c := range batch {
			runCmd(c)
		}
		return
	}
	// tea.Sequence's message is an unexported []tea.Cmd.
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == reflect.TypeOf(tea.Cmd(nil)) {
		for i := 0; i < v.Len(); i++ {
			runCmd(v.Index(i).Interface().(tea.Cmd))
		}
	}
}

// tick polls as the program's tick would, at the harness's clock.
func (hs *harness) tick() {
	hs.t.Helper()
	hs.send(hs.m.pollNow())
}

func (hs *harness) key(s string) {
	hs.t.Helper()
	hs.send(keyMsg(s))
}

func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "shift+tab":
		return tea.KeyMsg{Type: tea.KeyShiftTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "home":
		return tea.KeyMsg{Type: tea.KeyHome}
	case "end":
		return tea.KeyMsg{Type: tea.KeyEnd}
	}
	if k, ok := keyMsgTypes[s]; ok {
		return tea.KeyMsg{Type: k}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

const mib = 1 << 20

// fixtureSnapshot is a pool of six workers in every state, one of them busy
// on a slow request, part-way through a reload.
func fixtureSnapshot(now time.Time, requests uint64) status.Snapshot {
	return status.Snapshot{
		Time:        now,
		Started:     now.Add(-(time.Hour + 2*time.Minute + 3*time.Second)),
		App:         "./cmd/shop",
		Build:       "/home/dev/.cache/starlight/shop/gen-3/shop",
		Listeners:   []string{"http://127.0.0.1:8080", "unix:/tmp/shop.sock"},
		Generation:  3,
		Target:      6,
		Requests:    requests,
		Recycles:    4,
		Crashes:     1,
		Reloads:     2,
		Reloading:   true,
		ReloadGen:   3,
		ReloadSince: now.Add(-1400 * time.Millisecond),
		Workers: []status.WorkerInfo{
			{Slot: 2, PID: 48213, Generation: 3, State: status.StateBusy, Requests: 87, Budget: 1000,
				Active: 1, InFlight: "GET /api/orders?page=2", Since: now.Add(-180 * time.Millisecond),
				Started: now.Add(-42 * time.Second), RSS: 9 * mib},
			{Slot: 0, PID: 48190, Generation: 3, State: status.StateIdle, Requests: 412, Budget: 1000,
				Started: now.Add(-4*time.Minute - 5*time.Second), RSS: 8283750},
			{Slot: 1, PID: 48201, Generation: 3, State: status.StateBusy, Requests: 956, Budget: 1000,
				Active: 2, InFlight: "POST /checkout", Since: now.Add(-7400 * time.Millisecond),
				Started: now.Add(-3*time.Minute - 1*time.Second), RSS: 14 * mib},
			{Slot: 3, PID: 48220, Generation: 3, State: status.StateStarting, Budget: 1000,
				Started: now.Add(-300 * time.Millisecond)},
			{Slot: 4, PID: 47012, Generation: 2, State: status.StateExiting, Requests: 1000, Budget: 1000,
				Hijacked: 3, Started: now.Add(-61 * time.Minute), RSS: 21 * mib},
			{Slot: 5, PID: 47020, Generation: 2, State: status.StateIdle, Requests: 73045,
				Started: now.Add(-62 * time.Minute), RSS: 1288490189},
		},
	}
}

func fixtureEvents(now time.Time) []status.Event {
	at := func(d time.Duration) time.Time { return now.Add(-d) }
	return []status.Event{
		{Time: at(62 * time.Minute), Kind: status.EventStarted, Message: "serving http://127.0.0.1:8080 and unix:/tmp/shop.sock"},
		{Time: at(61 * time.Minute), Kind: status.EventReady, PID: 47012, Slot: 4, Message: "worker 47012 ready (slot 4, gen 2)"},
		{Time: at(5 * time.Minute), Kind: status.EventCrashed, PID: 47990, Slot: 1, ExitCode: 2,
			Message: "worker 47990 exited with status 2", Detail: "panic: runtime error: index out of range [3] with length 3\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/shop/main.go:41 +0x1d"},
		{Time: at(4 * time.Minute), Kind: status.EventReloadStarted, Generation: 3, Message: "reload: building generation 3"},
		{Time: at(4*time.Minute - time.Second), Kind: status.EventReloadFailed, Generation: 3, Message: "build failed: generation 2 keeps serving",
			Detail: "# github.com/acme/shop\n./cart.go:88:9: undefined: totl\n./cart.go:91:2: missing return"},
		{Time: at(30 * time.Second), Kind: status.EventReloadBuilt, Generation: 3, Message: "generation 3 built in 2.1s"},
		{Time: at(29 * time.Second), Kind: status.EventSpawned, PID: 48190, Slot: 0, Generation: 3, Message: "worker 48190 (slot 0, gen 3)"},
		{Time: at(3 * time.Second), Kind: status.EventRecycled, PID: 47950, Slot: 3, Requests: 1000, Message: "worker 47950 served its 1000 requests"},
	}
}

func fixtureLogs(now time.Time) []status.LogLine {
	return []status.LogLine{
		{Time: now, PID: 47020, Stream: status.StreamStderr, Text: "2025/03/14 09:26:40 cache warm: 1,204 products"},
		{Time: now, PID: 48190, Stream: status.StreamStdout, Text: "listening on inherited fd 3"},
		{Time: now, PID: 48190, Stream: status.StreamAccess, Text: `127.0.0.1 "GET /healthz" 200 12B 0.3ms`},
		{Time: now, PID: 48201, Stream: status.StreamStderr, Text: "warn: payment gateway slow (2.3s)\t\x1b[31mretrying\x1b[0m"},
		{Time: now, PID: 48213, Stream: status.StreamStdout, Text: "orders: page 2 of 9 for customer 1138 — a line long enough to be cut at eighty columns and more"},
		{Time: now, PID: 48201, Stream: status.StreamAccess, Text: `127.0.0.1 "POST /cart" 201 88B 14ms`},
		{Time: now, PID: 48190, Stream: status.StreamStdout, Text: "GET /api/products took 4ms"},
	}
}

// loadFixture runs ten seconds of ticks with a steady rising request rate,
// then delivers the fixture's events and logs.
func (hs *harness) loadFixture() {
	hs.t.Helper()
	start := t0.Add(-10 * time.Second)
	requests := uint64(120000)
	perTick := []uint64{2, 1, 1, 0, 0, 3}
	for i := 0; i <= 40; i++ {
		hs.clock = start.Add(time.Duration(i) * tickInterval)
		requests += uint64(i % 9)
		snap := fixtureSnapshot(hs.clock, requests)
		for j := range snap.Workers { // each worker's count rises at its own pace
			snap.Workers[j].Requests -= uint64(40-i) * perTick[j]
		}
		snap.HTTP = fixtureRetiredHTTP
		for j := range snap.Workers {
			snap.Workers[j].HTTP = fixtureHTTP(snap.Workers[j].Requests, j)
			snap.HTTP.Add(snap.Workers[j].HTTP)
		}
		hs.master.set(snap)
		if i == 40 {
			for _, e := range fixtureEvents(t0) {
				hs.dash.Event(e)
			}
			for _, l := range fixtureLogs(t0) {
				hs.dash.Log(l)
			}
		}
		hs.tick()
	}
}

// fixtureRetiredHTTP is what the exited workers' requests came to.
var fixtureRetiredHTTP = fixtureHTTP(100000, 0)

// fixtureHTTP spreads a worker's requests over status classes and
// latencies, differently for each worker k: worker 2 (pid 48201) answers
// 5xx now and then and slowly.
func fixtureHTTP(requests uint64, k int) status.HTTPStats {
	var h status.HTTPStats
	h.Classes[3] = 0
	if k == 2 {
		h.Classes[3] = requests / 7
	}
	h.Classes[1] = requests / 20
	h.Classes[2] = requests / 12
	h.Classes[0] = requests - h.Classes[1] - h.Classes[2] - h.Classes[3]
	h.Panics = h.Classes[3] / 3
	// Most requests in one bucket by worker, a tail in the slower ones.
	main := 4 + k%3
	if k == 2 {
		main = 9
	}
	tail := requests / 50
	h.Latency[main] = requests - 2*tail
	h.Latency[main+2] = tail
	h.Latency[main+5] = tail
	return h
}

var keyMsgTypes = map[string]tea.KeyType{"enter": tea.KeyEnter, "esc": tea.KeyEsc, "backspace": tea.KeyBackspace}

// keyMsgType is a key without runes: enter, esc, backspace.
func keyMsgType(s string) tea.KeyMsg { return tea.KeyMsg{Type: keyMsgTypes[s]} }
