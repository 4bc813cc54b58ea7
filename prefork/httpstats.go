package prefork

import (
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/status"
)

// The slot's histogram and the one a snapshot carries are the same.
var (
	_ [scoreboard.LatencyBuckets - status.LatencyBuckets]byte
	_ [status.LatencyBuckets - scoreboard.LatencyBuckets]byte
)

// slotHTTP reads a slot's HTTP counters. Each is read atomically, not all
// of them at one instant: a request ending meanwhile may be in one and
// not yet in another, which the next read puts right.
func slotHTTP(sl *scoreboard.Slot) status.HTTPStats {
	var h status.HTTPStats
	for i := range sl.Classes {
		h.Classes[i] = uint64(sl.Classes[i].Load())
	}
	h.Panics = uint64(sl.Panics.Load())
	for i := range sl.Latency {
		h.Latency[i] = uint64(sl.Latency[i].Load())
	}
	h.LatencySum = time.Duration(sl.LatencySum.Load()) * time.Microsecond
	return h
}
