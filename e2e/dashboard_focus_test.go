package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// press types a named key (Enter, Escape, Tab) into the dashboard.
func (d *dashboard) press(key string) {
	d.t.Helper()
	d.tmuxOK("send-keys", "-t", d.name, key)
}

// pane is the inside of the dashboard's pane titled title.
func pane(screen, title string) []string {
	var out []string
	in := false
	for _, l := range strings.Split(screen, "\n") {
		switch {
		case strings.HasPrefix(l, "╭") && strings.Contains(l, " "+title+" "):
			in = true
		case in && strings.HasPrefix(l, "╰"):
			return out
		case in:
			out = append(out, l)
		}
	}
	return out
}

// selectedPID is the pid of the Workers pane's selected row, or 0.
func selectedPID(screen string) int {
	for _, l := range pane(screen, "Workers") {
		if strings.HasPrefix(l, "│▸") {
			if m := reWorkerRow.FindStringSubmatch(l); m != nil {
				return atoi(m[2])
			}
		}
	}
	return 0
}

// focusWorkers moves the focus to the Workers pane and returns the pid
// selected there.
func (d *dashboard) focusWorkers() int {
	d.t.Helper()
	d.press("Tab") // from Logs
	var pid int
	d.waitScreen("a selected worker", func(s string) bool {
		pid = selectedPID(s)
		return pid != 0
	})
	return pid
}

// Enter on a worker shows its lines alone in the Logs pane: a line the
// app wrote in the other worker goes, one of its own stays.
func TestDashboardFocusFiltersLogs(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40)
	pids, _ := d.servingPIDs(2)
	// Each worker writes "testapp: worker PID sleeping 0 ms" to stderr.
	seen := map[int]bool{}
	for n := 0; n < 200 && len(seen) < 2; n++ {
		_, body, err := d.server.get(d.server.client, "/sleep?ms=0")
		if err != nil {
			t.Fatal(err)
		}
		seen[pidOf(body)] = true
	}
	d.waitScreen("both workers' lines in Logs", func(s string) bool {
		logs := strings.Join(pane(s, "Logs"), "\n")
		return strings.Contains(logs, "worker "+itoa(pids[0])+" sleeping") && strings.Contains(logs, "worker "+itoa(pids[1])+" sleeping")
	})
	sel := d.focusWorkers()
	other := pids[0]
	if other == sel {
		other = pids[1]
	}
	d.press("Enter")
	screen := d.waitScreen("the Logs pane of the selected worker alone", func(s string) bool {
		return strings.Contains(s, "worker "+itoa(sel)+" only")
	})
	logs := strings.Join(pane(screen, "Logs"), "\n")
	if !strings.Contains(logs, "worker "+itoa(sel)+" sleeping") || strings.Contains(logs, "worker "+itoa(other)+" sleeping") {
		t.Errorf("the Logs pane of worker %d:\n%s", sel, logs)
	}
	for _, l := range pane(screen, "Logs") {
		if f := strings.Fields(strings.Trim(l, "│ ")); len(f) > 0 && f[0] != itoa(sel) {
			t.Errorf("a line of another process in the logs of %d: %q", sel, l)
		}
	}
	d.press("Escape")
	d.waitScreen("every worker's lines again", func(s string) bool {
		return strings.Contains(strings.Join(pane(s, "Logs"), "\n"), "worker "+itoa(other)+" sleeping")
	})
}

// x recycles the selected worker, and that one alone: its pid leaves the
// table, a new one comes, the other worker stays; the selection follows
// the replacement.
func TestDashboardRecycleSelected(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40)
	pids, _ := d.servingPIDs(2)
	d.waitScreen("the 2 workers", func(s string) bool { return slices.Equal(rowPIDs(workerRows(s)), pids) })
	sel := d.focusWorkers()
	other := pids[0]
	if other == sel {
		other = pids[1]
	}
	d.keys("x")
	screen := d.waitScreen("the selected worker replaced", func(s string) bool {
		rows := workerRows(s)
		_, old := rows[sel]
		return !old && len(rows) == 2
	})
	rows := workerRows(screen)
	if _, ok := rows[other]; !ok {
		t.Errorf("worker %d, not selected, was replaced too:\n%s", other, screen)
	}
	if !regexp.MustCompile(`worker ` + itoa(sel) + ` recycled \(asked\)`).MatchString(screen) {
		t.Errorf("no recycle event for %d:\n%s", sel, screen)
	}
	if got := selectedPID(screen); got == sel || got == other {
		t.Errorf("the selection is on %d, want the replacement:\n%s", got, screen)
	}
}

// K asks before it kills: n keeps the worker, y kills it (SIGKILL) and a
// new one takes its place.
func TestDashboardKillAsks(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40)
	pids, _ := d.servingPIDs(2)
	d.waitScreen("the 2 workers", func(s string) bool { return slices.Equal(rowPIDs(workerRows(s)), pids) })
	sel := d.focusWorkers()
	d.keys("K")
	d.waitScreen("the question", func(s string) bool {
		return strings.Contains(s, "kill worker "+itoa(sel)+" with SIGKILL?") && strings.Contains(s, "y/n")
	})
	d.keys("n")
	d.waitScreen("no kill", func(s string) bool { return strings.Contains(s, "not killed") })
	if !alive(sel) {
		t.Fatalf("worker %d died after n", sel)
	}
	d.keys("K")
	d.waitScreen("the question again", func(s string) bool { return strings.Contains(s, "with SIGKILL?") })
	d.keys("y")
	screen := d.waitScreen("the worker killed and replaced", func(s string) bool {
		rows := workerRows(s)
		_, old := rows[sel]
		return !old && len(rows) == 2 && strings.Contains(s, "worker "+itoa(sel)+" killed as asked (killed by SIGKILL)")
	})
	if strings.Contains(screen, "crashes 1") {
		t.Errorf("a kill asked for counts as a crash:\n%s", screen)
	}
}

// A search finds lines the app wrote, and n moves to the next.
func TestDashboardSearch(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40)
	for _, ms := range []string{"1", "2", "3"} {
		if code, _, err := d.server.get(d.server.client, "/sleep?ms="+ms); err != nil || code != 200 {
			t.Fatalf("GET /sleep: %d %v", code, err)
		}
	}
	d.waitScreen("the app's lines", func(s string) bool { return strings.Contains(s, "sleeping 3 ms") })
	d.keys("/")
	d.keys("/sleeping [12] ms/") // a regular expression: the lines of 1 and 2 ms
	d.waitScreen("the prompt", func(s string) bool {
		return strings.Contains(s, "//sleeping [12] ms/▏") && strings.Contains(s, "2 matching lines")
	})
	d.press("Enter")
	reNote := regexp.MustCompile(`/sleeping \[12\] ms/ ([12])/2 n/N`)
	first := d.waitScreen("the search under the Logs pane", func(s string) bool { return reNote.MatchString(s) })
	at := reNote.FindStringSubmatch(first)[1]
	d.keys("n")
	d.waitScreen("n on the next match", func(s string) bool {
		m := reNote.FindStringSubmatch(s)
		return m != nil && m[1] != at
	})
}
