package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The workers table's totals row: REQS, REQ/S, then 2XX 3XX 4XX 5XX.
var reTotalRow = regexp.MustCompile(`total\s+\d+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s`)

// statusTotals reads the totals row's 2xx, 3xx, 4xx and 5xx, or nil.
func statusTotals(screen string) []int {
	m := reTotalRow.FindStringSubmatch(screen)
	if m == nil {
		return nil
	}
	return []int{atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4])}
}

// The 500s an app answers (here: panics the server recovers) show in the
// 5XX column, of the workers and in total, and in the header; 400s in
// 4XX and 200s in 2XX.
func TestDashboardStatusCounts(t *testing.T) {
	t.Parallel()
	d := startDashboard(t, 120, 40)
	d.waitScreen("the totals row", func(s string) bool { return statusTotals(s) != nil })
	base := statusTotals(d.screen()) // startDashboard's probes

	for range 5 {
		if code, _, err := d.server.get(d.server.client, "/panic"); err != nil || code != http.StatusInternalServerError {
			t.Fatalf("GET /panic: %d, %v", code, err)
		}
	}
	for range 3 {
		if code, _, err := d.server.get(d.server.client, "/sleep?ms=x"); err != nil || code != http.StatusBadRequest {
			t.Fatalf("GET /sleep?ms=x: %d, %v", code, err)
		}
	}
	for range 4 {
		if _, _, err := d.server.whoami(d.server.client); err != nil {
			t.Fatal(err)
		}
	}
	want := []int{base[0] + 4, base[1], base[2] + 3, base[3] + 5}
	screen := d.waitScreen("2xx, 3xx, 4xx and 5xx of the last 10 s counted", func(s string) bool {
		got := statusTotals(s)
		return got != nil && got[0] == want[0] && got[1] == want[1] && got[2] == want[2] && got[3] == want[3]
	})
	if !regexp.MustCompile(`5xx 5\b`).MatchString(screen) {
		t.Errorf("the header does not say 5xx 5:\n%s", screen)
	}
	// The workers' own 5XX add up to the total.
	sum := 0
	for _, line := range strings.Split(screen, "\n") {
		if reWorkerRow.MatchString(line) {
			f := strings.Fields(strings.Trim(line, "│ "))
			// # PID GEN glyph STATE REQS REQ/S 2XX 3XX 4XX 5XX
			if len(f) > 10 {
				sum += atoi(f[10])
			}
		}
	}
	if sum != 5 {
		t.Errorf("the workers' 5XX add up to %d, want 5:\n%s", sum, screen)
	}
}
