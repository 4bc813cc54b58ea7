package tui

import (
	"time"

	"github.com/starlight-go/starlight/status"
)

const (
	rateWindow  = time.Second // rates are measured over about this long
	keepSamples = 3 * time.Second
	historyLen  = 120 // one sparkline point a second
)

// sample is the request counters of one snapshot.
type sample struct {
	at    time.Time
	total uint64
	byPID map[int]uint64
}

// rates turns successive snapshots' request counters into requests per
// second, overall and per worker, and keeps a per-second history for the
// sparkline. It is a value: observe returns a new one and never modifies
// the slices or maps of the old one.
type rates struct {
	samples []sample
	total   float64
	byPID   map[int]float64
	history []float64
	histAt  time.Time
}

func (r rates) observe(s status.Snapshot, at time.Time) rates {
	cur := sample{at: at, total: s.Requests, byPID: make(map[int]uint64, len(s.Workers))}
	for _, w := range s.Workers {
		cur.byPID[w.PID] = w.Requests
	}

	// Measure against the newest sample at least a window old, or else the
	// oldest there is.
	var base *sample
	for i := len(r.samples) - 1; i >= 0; i-- {
		if at.Sub(r.samples[i].at) >= rateWindow {
			base = &r.samples[i]
			break
		}
	}
	if base == nil && len(r.samples) > 0 {
		base = &r.samples[0]
	}

	next := rates{history: r.history, histAt: r.histAt, byPID: make(map[int]float64, len(s.Workers))}
	if base != nil {
		if dt := at.Sub(base.at).Seconds(); dt > 0 {
			next.total = perSecond(base.total, cur.total, dt)
			for _, w := range s.Workers {
				prev, ok := base.byPID[w.PID]
				if !ok && w.Started.After(base.at) {
					prev, ok = 0, true // born since: every request is new
				}
				if ok {
					next.byPID[w.PID] = perSecond(prev, w.Requests, dt)
				}
			}
		}
	}

	next.samples = make([]sample, 0, len(r.samples)+1)
	for _, old := range r.samples {
		if at.Sub(old.at) <= keepSamples && !old.at.After(at) {
			next.samples = append(next.samples, old)
		}
	}
	next.samples = append(next.samples, cur)

	switch {
	case next.histAt.IsZero():
		next.histAt = at
	case at.Sub(next.histAt) >= time.Second:
		h := make([]float64, 0, historyLen)
		if len(r.history) >= historyLen {
			h = append(h, r.history[len(r.history)-historyLen+1:]...)
		} else {
			h = append(h, r.history...)
		}
		next.history = append(h, next.total)
		next.histAt = next.histAt.Add(time.Second)
		if at.Sub(next.histAt) >= time.Second { // fell behind: catch up
			next.histAt = at
		}
	}
	return next
}

func perSecond(from, to uint64, dt float64) float64 {
	if to < from {
		return 0 // counter restarted
	}
	return float64(to-from) / dt
}

// worker returns a worker's rate and whether it is known yet.
func (r rates) worker(pid int) (float64, bool) {
	v, ok := r.byPID[pid]
	return v, ok
}
