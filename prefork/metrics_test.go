package prefork

import (
	"strings"
	"testing"
	"time"

	"github.com/starlight-go/starlight/status"
)

// The duration histogram is cumulative, bounded by the slots' buckets,
// with +Inf, _sum and _count; the responses go by status class.
func TestExpositionHistogram(t *testing.T) {
	var s status.Snapshot
	s.HTTP.Latency[0] = 2
	s.HTTP.Latency[3] = 1
	s.HTTP.Latency[status.LatencyBuckets-1] = 1
	s.HTTP.LatencySum = 5*time.Second + 250*time.Microsecond
	s.HTTP.Classes = [4]uint64{3, 0, 0, 1}
	s.HTTP.Panics = 1
	out := exposition(s, 4, 0)
	for _, want := range []string{
		"# TYPE starlight_request_duration_seconds histogram\n",
		`starlight_request_duration_seconds_bucket{le="6.5536e-05"} 2` + "\n",
		`starlight_request_duration_seconds_bucket{le="0.000262144"} 2` + "\n",
		`starlight_request_duration_seconds_bucket{le="0.000524288"} 3` + "\n",
		`starlight_request_duration_seconds_bucket{le="4.294967296"} 3` + "\n",
		`starlight_request_duration_seconds_bucket{le="+Inf"} 4` + "\n",
		"starlight_request_duration_seconds_sum 5.000250\n",
		"starlight_request_duration_seconds_count 4\n",
		`starlight_responses_total{code="2xx"} 3` + "\n",
		`starlight_responses_total{code="5xx"} 1` + "\n",
		"starlight_panics_total 1\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "starlight_request_duration_seconds_bucket{"); n != status.LatencyBuckets {
		t.Errorf("%d buckets, want %d", n, status.LatencyBuckets)
	}
}

// A scrape never shows a count lower than one before it.
func TestHighestNeverGoesBack(t *testing.T) {
	var a, b status.HTTPStats
	a.Latency[2], b.Latency[2] = 5, 4
	a.Classes[0], b.Classes[0] = 1, 3
	a.LatencySum, b.LatencySum = time.Second, 2*time.Second
	h := highest(a, b)
	if h.Latency[2] != 5 || h.Classes[0] != 3 || h.LatencySum != 2*time.Second {
		t.Errorf("highest: %+v", h)
	}
}
