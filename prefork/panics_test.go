package prefork

import (
	"strings"
	"testing"

	"github.com/starlight-go/starlight/status"
)

const recoveredStack = `2026/12/03 09:28:12 panic serving GET /panic: testapp: worker 23514 panics on purpose
goroutine 18 [running]:
runtime/debug.Stack()
	/usr/local/go/src/runtime/debug/stack.go:26 +0x5e
github.com/starlight-go/starlight/httpserver.(*server).finish(0xc6984058180, 0xc698402e580)
	/src/httpserver/server.go:240 +0xd9
panic({0x6b5f40?, 0xc69840a2010?})
	/usr/local/go/src/runtime/panic.go:783 +0x132
main.main.func12({0x7cc3a0?, 0xc698402e580?}, 0xc698402e580?)
	/src/e2e/testdata/app/main.go:96 +0x94
net/http.HandlerFunc.ServeHTTP(0xc69840560c0?, {0x7cc3a0?, 0xc698402e580?}, 0xa?)
	/usr/local/go/src/net/http/server.go:2286 +0x29
`

// A recovered panic's event shows the app's frames, not the recovery's.
func TestAppFrames(t *testing.T) {
	lines := strings.Split(recoveredStack, "\n")
	got := strings.Join(appFrames(lines[1:]), "\n")
	want := "goroutine 18 [running]:\nmain.main.func12({0x7cc3a0?, 0xc698402e580?}, 0xc698402e580?)\n\t/src/e2e/testdata/app/main.go:96 +0x94\n" +
		"net/http.HandlerFunc.ServeHTTP(0xc69840560c0?, {0x7cc3a0?, 0xc698402e580?}, 0xa?)\n\t/usr/local/go/src/net/http/server.go:2286 +0x29"
	if got != want {
		t.Errorf("appFrames:\n%s\nwant:\n%s", got, want)
	}
	// Built with -trimpath, the file lines are relative.
	trimmed := strings.ReplaceAll(strings.ReplaceAll(recoveredStack, "/usr/local/go/src/", ""), "/src/", "")
	if got := appFrames(strings.Split(trimmed, "\n")[1:]); len(got) < 2 || !strings.HasPrefix(got[1], "main.main.func12") {
		t.Errorf("appFrames of a -trimpath stack: %q", got)
	}
	if got := appFrames([]string{"some line", "another"}); len(got) != 2 {
		t.Errorf("appFrames of no stack: %q", got)
	}
}

// The crash context is the panic and the top of its stack, from the end
// of what the worker wrote, however much came before.
func TestCrashLines(t *testing.T) {
	var l lastWords
	l.done.Store(true) // ready long ago
	for range 500 {
		l.keep([]byte("GET /x took 3ms, a line the app writes all the time\n"))
	}
	l.keep([]byte("panic: boom [recovered]\n\tpanic: boom again\n\ngoroutine 7 [running]:\nmain.f()\n\t/src/main.go:9 +0x1d\nmain.g()\n\t/src/main.go:12 +0x1d\nexit status 2\n"))
	got := l.crashLines(5)
	want := "panic: boom [recovered]\n\tpanic: boom again\ngoroutine 7 [running]:\nmain.f()\n\t/src/main.go:9 +0x1d"
	if got != want {
		t.Errorf("crashLines:\n%q\nwant\n%q", got, want)
	}
	var quiet lastWords
	quiet.keep([]byte("one\ntwo\nthree\n"))
	if got := quiet.crashLines(12); got != "one\ntwo\nthree" {
		t.Errorf("crashLines without a panic: %q", got)
	}
	if len(l.tail) > maxTail {
		t.Errorf("the tail keeps %d bytes", len(l.tail))
	}
}

// A recovered panic in a worker's stderr is an event with its request,
// value, the app's frames and the worker's count.
func TestPanicEvent(t *testing.T) {
	f := newFakePool(t, 1, nil)
	f.settle()
	p := f.serving()[0]
	f.m.board.Slot(p.slot).Panics.Store(2)
	f.m.stderrTap(p)([]byte("an ordinary line\n" + recoveredStack))
	f.events.mu.Lock()
	defer f.events.mu.Unlock()
	var got []status.Event
	for _, e := range f.events.events {
		if e.Kind == status.EventPanic {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d panic events, want 1", len(got))
	}
	e := got[0]
	if want := "serving GET /panic: testapp: worker 23514 panics on purpose; 2 panics of this worker"; e.PID != p.pid || !strings.Contains(e.Message, want) {
		t.Errorf("event %d %q, want worker %d and %q", e.PID, e.Message, p.pid, want)
	}
	if !strings.HasPrefix(e.Detail, "goroutine 18 [running]:\nmain.main.func12") {
		t.Errorf("detail %q", e.Detail)
	}
	if p.words.crashLines(3) == "" {
		t.Error("the stderr tap keeps no last words")
	}
}
