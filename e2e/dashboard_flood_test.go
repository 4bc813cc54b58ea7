package e2e

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Under a flood of 10,000 log lines a second the dashboard at 80×24 keeps
// answering keys, and the workers keep answering requests as fast as
// before: they never wait for the dashboard.
func TestDashboardUnderLogFlood(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 80, 24)
	d.servingPIDs(2)
	// Requests' time without the flood, the slowest of 20.
	slowest := func(n int) time.Duration {
		var worst time.Duration
		for range n {
			start := time.Now()
			if _, _, err := d.server.whoami(d.server.client); err != nil {
				t.Fatal(err)
			}
			worst = max(worst, time.Since(start))
		}
		return worst
	}
	quiet := slowest(20)

	// 1,000 lines ten times a second, for 3 seconds: 30 requests.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent atomic.Int32
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for range 30 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			d.server.get(d.server.client, "/log?n=1000&text=flood") //nolint:errcheck // counted by the screen
			sent.Add(1)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	d.waitScreen("the flood in the logs", func(s string) bool { return strings.Contains(s, "testapp: ") && strings.Contains(s, " flood") })
	if !poll(5*time.Second, func() bool { return sent.Load() >= 10 }) { // a second of it
		t.Fatalf("%d requests of the flood sent after 5s", sent.Load())
	}

	// Keys: help on and off, the search prompt and out of it, each seen
	// on the screen.
	for _, step := range []struct {
		key  string
		want func(string) bool
	}{
		{"?", func(s string) bool { return strings.Contains(s, "quit; twice: force") }},
		{"?", func(s string) bool { return !strings.Contains(s, "quit; twice: force") }},
		{"/", func(s string) bool { return strings.Contains(s, "enter done · esc clear") }},
	} {
		start := time.Now()
		d.keys(step.key)
		d.waitScreen("the answer to "+step.key+" under the flood", step.want)
		took := time.Since(start)
		t.Logf("key %q answered on screen in %s (tmux round trips included)", step.key, took.Round(time.Millisecond))
		if took > 500*time.Millisecond {
			t.Errorf("key %q took %s to show under the flood", step.key, took)
		}
	}
	d.press("Escape")

	flood := slowest(20)
	t.Logf("slowest of 20 requests: %s before the flood, %s during it", quiet.Round(time.Microsecond), flood.Round(time.Microsecond))
	if flood > quiet+500*time.Millisecond {
		t.Errorf("requests slowed from %s to %s under the flood", quiet, flood)
	}
}
