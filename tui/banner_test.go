package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/starlight-go/starlight/status"
)

const buildOutput = "# github.com/acme/shop\n./cart.go:88:9: undefined: totl\n./cart.go:91:2: missing return\n./cart.go:95:1: too many errors"

// failBuild delivers a failed build of generation 4.
func failBuild(hs *harness) {
	hs.dash.Event(status.Event{Time: hs.clock, Kind: status.EventReloadFailed, Generation: 4,
		Message: "build of generation 4 failed; generation 3 keeps serving: exit status 1", Detail: buildOutput})
	hs.tick()
}

func TestGoldenBanner(t *testing.T) {
	for _, sz := range goldenSizes {
		goldenBoth(t, "banner", sz[0], sz[1], failBuild)
		goldenBoth(t, "build_output", sz[0], sz[1], func(hs *harness) {
			failBuild(hs)
			hs.key("e")
		})
		goldenBoth(t, "rollback", sz[0], sz[1], func(hs *harness) {
			hs.dash.Event(status.Event{Time: hs.clock, Kind: status.EventReloadFailed, Generation: 4,
				Message: "reload rolled back: 3 workers of generation 4 exited before they were ready (last: exit status 1); generation 3 keeps serving"})
			hs.tick()
		})
	}
}

// The banner names the first compiler error and stays until a good
// build; e shows the whole output and closes it.
func TestBannerUntilGoodBuild(t *testing.T) {
	hs := newHarness(t, 80, 24)
	hs.loadFixture()
	failBuild(hs)
	view := ansi.Strip(hs.m.View())
	if lines := strings.Split(view, "\n"); !strings.Contains(lines[3], "✖ build of generation 4 failed: ./cart.go:88:9: undefined") {
		t.Errorf("no banner on the header's fourth line:\n%s", view)
	}
	checkScreen(t, hs.m.View(), 80, 24)
	hs.key("e")
	view = ansi.Strip(hs.m.View())
	if !strings.Contains(view, "Build output") || !strings.Contains(view, "too many errors") {
		t.Errorf("e does not show the build's output:\n%s", view)
	}
	hs.key("e")
	if strings.Contains(ansi.Strip(hs.m.View()), "Build output") {
		t.Error("e again does not close the output")
	}
	for i := 0; i < 3; i++ { // ticks without news keep it
		hs.clock = hs.clock.Add(time.Second)
		hs.tick()
	}
	if !strings.Contains(ansi.Strip(hs.m.View()), "✖ build of generation 4") {
		t.Error("the banner went without a good build")
	}
	hs.dash.Event(status.Event{Time: hs.clock, Kind: status.EventReloadBuilt, Generation: 5, Message: "generation 5 built"})
	hs.tick()
	if view := ansi.Strip(hs.m.View()); strings.Contains(view, "✖") {
		t.Errorf("the banner stays after a good build:\n%s", view)
	}
	checkScreen(t, hs.m.View(), 80, 24)
}

func TestFirstError(t *testing.T) {
	for in, want := range map[string]string{
		buildOutput: "./cart.go:88:9: undefined: totl",
		"# example.com/app\nmain.go:3:1: syntax error: non-declaration statement outside function body": "main.go:3:1: syntax error: non-declaration statement outside function body",
		"go: cannot find main module": "go: cannot find main module",
	} {
		if got := firstError(in); got != want {
			t.Errorf("firstError(%q) = %q, want %q", in, got, want)
		}
	}
}

// A crash event shows the request in flight and the panic with the top
// of its stack; a recovered panic its request and value.
func TestGoldenCrashContext(t *testing.T) {
	for _, sz := range goldenSizes {
		goldenBoth(t, "crash", sz[0], sz[1], func(hs *harness) {
			hs.dash.Event(status.Event{Time: hs.clock, Kind: status.EventPanic, PID: 48213, Slot: 2, Generation: 3,
				Message: "worker 48213 recovered from a panic (500) serving GET /api/orders: nil map; 1 panic of this worker",
				Detail:  "goroutine 41 [running]:\nmain.orders(...)\n\t/src/shop/orders.go:17 +0x2f"})
			hs.dash.Event(status.Event{Time: hs.clock, Kind: status.EventCrashed, PID: 48201, Slot: 1, Generation: 3, ExitCode: 2,
				Message: "worker 48201 crashed: exit status 2 after 956 requests; 1 request in flight cut (POST /checkout for 7.4s)",
				Detail:  "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a1b2c]\n\ngoroutine 52 [running]:\nmain.charge.func1()\n\t/src/shop/pay.go:33 +0x1c\ncreated by main.charge in goroutine 41\n\t/src/shop/pay.go:30 +0x8e"})
			hs.tick()
			hs.key("tab")
			hs.key("tab") // Events
			hs.key("e")   // problems only
		})
	}
}

func TestGoldenReloadBuilding(t *testing.T) {
	for _, sz := range goldenSizes {
		goldenBoth(t, "building", sz[0], sz[1], func(hs *harness) {
			s := fixtureSnapshot(hs.clock, 130000)
			s.Building, s.ReloadGen = true, 4
			hs.master.set(s)
			hs.tick()
		})
	}
}
