package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// A worker that dies with a request in flight: its crash event names the
// request and shows the panic that killed it; a panic the server recovered
// (a 500) is an event too, with its request and value.
func TestDashboardCrashContext(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40)
	d.servingPIDs(2)
	// The Events pane shows problems only: the workers' spawns and
	// readiness do not push the events looked for out of view.
	d.press("Tab")
	d.press("Tab")
	d.keys("e")
	d.waitScreen("problems only", func(s string) bool { return strings.Contains(s, "problems only") })
	code, _, err := d.server.get(d.server.client, "/panic")
	if err != nil || code != 500 {
		t.Fatalf("GET /panic: %d %v", code, err)
	}
	screen := d.waitScreen("the recovered panic's event", func(s string) bool {
		return regexp.MustCompile(`panic worker (\d+) recovered from a panic \(500\) serving GET /panic: testapp: worker \d+ panics on purpose; 1 panic of this worker goroutine \d+ \[running\]: main\.`).
			MatchString(paneWords(s, "Events"))
	})
	if strings.Contains(paneWords(screen, "Events"), "debug.Stack") {
		t.Errorf("the panic's event shows the recovery's frames:\n%s", screen)
	}

	// The request fails as its worker dies: the answer is of no interest.
	d.server.get(d.server.client, "/crash") //nolint:errcheck
	screen = d.waitScreen("the crash event with its request and panic", func(s string) bool {
		return regexp.MustCompile(`crashed worker \d+ crashed: exit status 2 after \d+ requests?; 1 request in flight cut \(GET /crash for [\d.]+m?s\) panic: testapp: worker \d+ crashes on purpose goroutine \d+ \[running\]:`).
			MatchString(paneWords(s, "Events"))
	})
	if !strings.Contains(screen, "crashes 1") {
		t.Errorf("the crash is not counted:\n%s", screen)
	}
}

// A slow rollout (--spawn-interval) shows its progress in the header.
func TestDashboardReloadProgress(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40, "--spawn-interval", "1.5")
	d.waitScreen("2 workers ready", func(s string) bool { return strings.Contains(s, "workers 2/2") && strings.Contains(s, "2 idle") })
	d.keys("r")
	screen := d.waitScreen("the reload's progress", func(s string) bool {
		return regexp.MustCompile(`reload → gen 2: [01]/2 ready`).MatchString(s)
	})
	if !regexp.MustCompile(`reload → gen 2: [01]/2 ready( · \d old draining)? · [\d.]+m?s [▰▱]+`).MatchString(screen) {
		t.Errorf("the progress lacks its time or bar:\n%s", strings.Split(screen, "\n")[0])
	}
	d.waitScreen("the reload finished", func(s string) bool {
		return !strings.Contains(s, "reload →") && strings.Contains(s, "reloads 1")
	})
}

// A failed build puts its first compiler error in a banner that stays;
// e shows the whole output; a fix clears the banner.
func TestDashboardBuildBanner(t *testing.T) {
	t.Parallel()
	a := newLiveApp(t, "v1-"+nonce())
	d := startDashboardApp(t, 120, 40, a.dir, liveEnv(a.tmp), "-r")
	d.waitScreen("generation 1 serving", func(s string) bool { return strings.Contains(s, "workers 2/2") })

	a.writeMain("v2-"+nonce(), "brokenCall()")
	screen := d.waitScreenFor(liveReloadTimeout, "the banner", func(s string) bool {
		return regexp.MustCompile(`✖ build of generation 2 failed: \S*main\.go:\d+:\d+: undefined: brokenCall`).MatchString(s)
	})
	lines := strings.Split(screen, "\n")
	if !strings.Contains(lines[3], "✖ build of generation 2 failed") {
		t.Errorf("the banner is not at the top:\n%s", screen)
	}
	d.keys("e")
	d.waitScreen("the build's output", func(s string) bool {
		return strings.Contains(s, "Build output") && strings.Contains(s, "# reloadapp")
	})
	d.keys("e")
	d.waitScreen("the panes back", func(s string) bool { return !strings.Contains(s, "Build output") && strings.Contains(s, "✖ build") })

	a.writeMain("v3-"+nonce(), "")
	d.waitScreenFor(liveReloadTimeout, "the banner gone after the fix", func(s string) bool {
		return !strings.Contains(s, "✖") && strings.Contains(s, "reloads 1")
	})
}

// waitScreenFor is waitScreen with a timeout of its own (a build).
func (d *dashboard) waitScreenFor(timeout time.Duration, what string, cond func(screen string) bool) string {
	d.t.Helper()
	var screen string
	if !poll(timeout, func() bool {
		screen = d.screen()
		return cond(screen)
	}) {
		d.t.Fatalf("the screen does not show %s after %s:\n%s", what, timeout, screen)
	}
	return screen
}

// paneWords is the text of a pane as one line of words: its lines joined,
// the spaces between words made one.
func paneWords(screen, title string) string {
	var words []string
	for _, l := range pane(screen, title) {
		words = append(words, strings.Fields(strings.Trim(l, "│"))...)
	}
	return strings.Join(words, " ")
}
