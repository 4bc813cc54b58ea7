package status

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var h HTTPStats
	if _, ok := h.Quantile(0.5); ok {
		t.Error("a quantile of no requests")
	}
	// 100 requests in bucket 3 ([524µs, 1.05ms)): the median halfway.
	h.Latency[3] = 100
	d, ok := h.Quantile(0.5)
	lo, hi := LatencyBound(2), LatencyBound(3)
	if !ok || d != lo+(hi-lo)/2 {
		t.Errorf("p50 = %v, want %v", d, lo+(hi-lo)/2)
	}
	// One slow request in 100 more: p99 stays in bucket 3, p99.9 is it.
	h.Latency[10] = 1
	if d, _ := h.Quantile(0.99); d >= hi {
		t.Errorf("p99 = %v, want under %v", d, hi)
	}
	if d, _ := h.Quantile(0.999); d < LatencyBound(9) || d > LatencyBound(10) {
		t.Errorf("p99.9 = %v, want in bucket 10", d)
	}
	// The last bucket has no bound: its lower bound stands.
	h = HTTPStats{}
	h.Latency[LatencyBuckets-1] = 5
	if d, _ := h.Quantile(0.99); d != LatencyBound(LatencyBuckets-2) {
		t.Errorf("p99 in the last bucket = %v", d)
	}
	if LatencyBound(0) < 60*time.Microsecond || LatencyBound(LatencyBuckets-2) < 4*time.Second {
		t.Errorf("bounds %v..%v", LatencyBound(0), LatencyBound(LatencyBuckets-2))
	}
}

func TestAddSub(t *testing.T) {
	a := HTTPStats{Classes: [4]uint64{5, 1, 2, 3}, Panics: 1}
	a.Latency[2] = 11
	var b HTTPStats
	b.Add(a)
	b.Add(a)
	d := b.Sub(a)
	if d != a {
		t.Errorf("(a+a)-a = %+v, want %+v", d, a)
	}
	if z := a.Sub(b); z != (HTTPStats{}) {
		t.Errorf("a-(a+a) = %+v, want zero", z)
	}
}
