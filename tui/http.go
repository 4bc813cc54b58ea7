package tui

import (
	"strconv"

	"github.com/charmbracelet/x/ansi"
	"time"

	"github.com/starlight-go/starlight/status"
)

const (
	httpWindow  = 10 * time.Second // counts and latencies are over about this long
	httpHistory = 60               // seconds of 5xx kept for the header's sparkline
)

// httpSample is the HTTP counters of one snapshot.
type httpSample struct {
	at    time.Time
	total status.HTTPStats
	byPID map[int]status.HTTPStats
}

// httpStats turns the snapshots' growing HTTP counters into what happened
// over the last httpWindow, overall and per worker, and keeps a history of
// 5xx a second for the sparkline. It is a value, as rates is: observe
// returns a new one and leaves the old one's slices and maps alone.
type httpStats struct {
	samples []httpSample
	total   status.HTTPStats
	byPID   map[int]status.HTTPStats
	errors  []float64 // 5xx responses a second, oldest first
	errAt   time.Time
	errBase uint64 // the 5xx count at errAt
}

func (h httpStats) observe(s status.Snapshot, at time.Time) httpStats {
	cur := httpSample{at: at, total: s.HTTP, byPID: make(map[int]status.HTTPStats, len(s.Workers))}
	for _, w := range s.Workers {
		cur.byPID[w.PID] = w.HTTP
	}
	// Against the newest sample at least a window old, or else the oldest.
	var base *httpSample
	for i := len(h.samples) - 1; i >= 0; i-- {
		if at.Sub(h.samples[i].at) >= httpWindow {
			base = &h.samples[i]
			break
		}
	}
	if base == nil && len(h.samples) > 0 {
		base = &h.samples[0]
	}
	next := httpStats{errors: h.errors, errAt: h.errAt, errBase: h.errBase, byPID: make(map[int]status.HTTPStats, len(s.Workers))}
	if base != nil {
		next.total = s.HTTP.Sub(base.total)
		for _, w := range s.Workers {
			prev, ok := base.byPID[w.PID]
			if !ok && w.Started.After(base.at) {
				ok = true // born since: every count is new
			}
			for i := 0; !ok && i < len(h.samples); i++ {
				// Already running but not in that sample: from its
				// first one.
				prev, ok = h.samples[i].byPID[w.PID]
			}
			if ok {
				next.byPID[w.PID] = w.HTTP.Sub(prev)
			}
		}
	}
	next.samples = make([]httpSample, 0, len(h.samples)+1)
	for _, old := range h.samples {
		if at.Sub(old.at) <= httpWindow+time.Second && !old.at.After(at) {
			next.samples = append(next.samples, old)
		}
	}
	next.samples = append(next.samples, cur)

	errs := s.HTTP.Classes[3]
	switch {
	case next.errAt.IsZero():
		next.errAt, next.errBase = at, errs
	case at.Sub(next.errAt) >= time.Second:
		e := make([]float64, 0, httpHistory)
		if len(h.errors) >= httpHistory {
			e = append(e, h.errors[len(h.errors)-httpHistory+1:]...)
		} else {
			e = append(e, h.errors...)
		}
		n := 0.0
		if errs > next.errBase {
			n = float64(errs - next.errBase)
		}
		next.errors = append(e, n)
		next.errAt, next.errBase = at, errs
	}
	return next
}

// worker returns what a worker's requests came to over the window, and
// whether it is known yet.
func (h httpStats) worker(pid int) (status.HTTPStats, bool) {
	v, ok := h.byPID[pid]
	return v, ok
}

// errorsInHistory tells whether any second of the history had a 5xx.
func (h httpStats) errorsInHistory() bool {
	for _, v := range h.errors {
		if v > 0 {
			return true
		}
	}
	return false
}

// latency formats a latency quantile: 850µs, 12ms, 1.4s; "–" without
// requests; the last bucket has no bound and reads ">4.3s".
func latency(h status.HTTPStats, q float64) string {
	d, ok := h.Quantile(q)
	if !ok {
		return "–"
	}
	last := status.LatencyBound(status.LatencyBuckets - 2)
	prefix := ""
	if d >= last {
		prefix, d = ">", last
	}
	switch {
	case d < time.Millisecond:
		return prefix + strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < 10*time.Millisecond:
		return prefix + strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	case d < time.Second:
		return prefix + strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	default:
		return prefix + strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
}

// count formats a count in at most five cells: 999, 12k, 1.2M.
func count(n uint64) string {
	switch {
	case n < 10000:
		return strconv.FormatUint(n, 10)
	case n < 1000000:
		return strconv.FormatUint(n/1000, 10) + "k"
	default:
		return strconv.FormatFloat(float64(n)/1e6, 'f', 1, 64) + "M"
	}
}

// httpHeader is the header's summary of the last httpWindow in at most w
// cells: 5xx (in the error colour when there were any), their history
// while it has any, and the p50 and p99 latencies; the history and then
// p50 give way on narrow terminals.
func (m model) httpHeader(w int) string {
	st := m.st
	if !m.haveSnap || len(m.http.samples) < 2 {
		return ""
	}
	h := m.http.total
	n := h.Classes[3]
	errs := st.label.Render("5xx ") + st.value.Render("0")
	if n > 0 {
		errs = st.bad.Render("5xx " + count(n))
	}
	p50 := st.label.Render("p50 ") + st.value.Render(latency(h, 0.50))
	p99 := st.label.Render("p99 ") + st.value.Render(latency(h, 0.99))
	spark := func(n int) string {
		if !m.http.errorsInHistory() {
			return ""
		}
		return " " + st.bad.Render(sparkline(m.http.errors, n))
	}
	for _, s := range []string{
		errs + spark(10) + "  " + p50 + "  " + p99,
		errs + spark(5) + "  " + p50 + "  " + p99,
		errs + spark(5) + "  " + p99,
		errs + "  " + p99,
	} {
		if ansi.StringWidth(s) <= w {
			return s
		}
	}
	return ""
}
