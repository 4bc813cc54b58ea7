package remote

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/starlight-go/starlight/internal/control"
	"github.com/starlight-go/starlight/status"
)

// StatusSchema is the version of the JSON `starlight status --json`
// prints. Fields are only ever added under one version; a change that
// would break a reader raises it.
const StatusSchema = 1

// rateWindow is how long status watches the pool to tell its requests
// per second.
const rateWindow = 500 * time.Millisecond

// StatusJSON is the document `starlight status --json` prints.
type StatusJSON struct {
	Schema     int          `json:"schema"`
	Starlight  string       `json:"starlight"` // the server's release
	PID        int          `json:"pid"`
	App        string       `json:"app"`
	Dir        string       `json:"dir"`
	Build      string       `json:"build"`
	Started    time.Time    `json:"started"`
	Uptime     float64      `json:"uptime_seconds"`
	Listeners  []string     `json:"listeners"`
	Generation int          `json:"generation"`
	Target     int          `json:"target_workers"`
	Workers    []WorkerJSON `json:"workers"`
	Totals     TotalsJSON   `json:"totals"`
	Reloading  bool         `json:"reloading"`
	Stopping   bool         `json:"stopping"`
	Halted     bool         `json:"halted"`
	HaltReason string       `json:"halt_reason,omitempty"`
}

// WorkerJSON is one worker in StatusJSON.
type WorkerJSON struct {
	PID        int     `json:"pid"`
	Slot       int     `json:"slot"`
	Generation int     `json:"generation"`
	State      string  `json:"state"` // starting, idle, busy, exiting
	Requests   uint64  `json:"requests"`
	Budget     uint64  `json:"budget"` // 0 = unlimited
	Active     int     `json:"active"`
	Hijacked   int     `json:"hijacked"`
	InFlight   string  `json:"in_flight,omitempty"`         // "METHOD /path"
	InFlightS  float64 `json:"in_flight_seconds,omitempty"` // for how long
	RSS        uint64  `json:"rss_bytes"`
	Age        float64 `json:"age_seconds"`
}

// TotalsJSON is the pool's counters in StatusJSON.
type TotalsJSON struct {
	Requests          uint64  `json:"requests"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	Recycles          int     `json:"recycles"`
	Crashes           int     `json:"crashes"`
	Reloads           int     `json:"reloads"`
}

// Status is `starlight status [--pid FILE | --control PATH] [--json]`.
func Status(args []string, stdout, stderr io.Writer) int {
	var t target
	var asJSON bool
	fs := newFlags("status")
	t.flags(fs)
	fs.BoolVar(&asJSON, "json", false, "")
	help, err := parse(fs, args)
	if err == nil && fs.NArg() > 0 {
		err = &usageError{"unexpected argument " + fs.Arg(0)}
	}
	if err != nil {
		return fail(stderr, "status", err)
	}
	if help {
		fmt.Fprint(stdout, statusUsage)
		return exitOK
	}
	c, err := t.dial()
	if err != nil {
		return fail(stderr, "status", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(dialTimeout))
	first, err := c.Snapshot()
	if err != nil {
		return fail(stderr, "status", err)
	}
	time.Sleep(rateWindow)
	snap, err := c.Snapshot()
	if err != nil {
		return fail(stderr, "status", err)
	}
	doc := statusDoc(c.Hello, first, snap)
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(doc)
		return exitOK
	}
	io.WriteString(stdout, humanStatus(doc, snap.Time))
	return exitOK
}

const statusUsage = `Usage: starlight status [--pid FILE | --control PATH] [--json]

Shows a running server's pool: listeners, generation, workers, totals.
Without --pid or --control, the server started from this directory (or
the nearest one above it).
`

// statusDoc makes the JSON document from the server's hello and two
// snapshots taken rateWindow apart.
func statusDoc(h control.Hello, first, s status.Snapshot) StatusJSON {
	d := StatusJSON{
		Schema:     StatusSchema,
		Starlight:  h.Starlight,
		PID:        h.PID,
		App:        s.App,
		Dir:        h.Dir,
		Build:      s.Build,
		Started:    s.Started,
		Uptime:     s.Time.Sub(s.Started).Seconds(),
		Listeners:  append([]string{}, s.Listeners...),
		Generation: s.Generation,
		Target:     s.Target,
		Workers:    []WorkerJSON{},
		Reloading:  s.Reloading,
		Stopping:   s.Stopping,
		Halted:     s.Halted,
		HaltReason: s.HaltReason,
		Totals: TotalsJSON{
			Requests: s.Requests,
			Recycles: s.Recycles,
			Crashes:  s.Crashes,
			Reloads:  s.Reloads,
		},
	}
	if dt := s.Time.Sub(first.Time).Seconds(); dt > 0 && s.Requests >= first.Requests {
		d.Totals.RequestsPerSecond = float64(s.Requests-first.Requests) / dt
	}
	ws := append([]status.WorkerInfo(nil), s.Workers...)
	sort.SliceStable(ws, func(i, j int) bool { return ws[i].Slot < ws[j].Slot })
	for _, w := range ws {
		j := WorkerJSON{
			PID: w.PID, Slot: w.Slot, Generation: w.Generation, State: string(w.State),
			Requests: w.Requests, Budget: w.Budget, Active: w.Active, Hijacked: w.Hijacked,
			InFlight: w.InFlight, RSS: w.RSS, Age: s.Time.Sub(w.Started).Seconds(),
		}
		if w.InFlight != "" && !w.Since.IsZero() {
			j.InFlightS = s.Time.Sub(w.Since).Seconds()
		}
		d.Workers = append(d.Workers, j)
	}
	return d
}

// humanStatus is the status for a person, in 80 columns.
func humanStatus(d StatusJSON, now time.Time) string {
	var b strings.Builder
	state := "serving"
	switch {
	case d.Stopping:
		state = "stopping"
	case d.Halted:
		state = "halted: " + d.HaltReason
	case d.Reloading:
		state = "reloading"
	}
	line := func(s string) { b.WriteString(strings.TrimRight(cut(s, 80), " ") + "\n") }
	line(fmt.Sprintf("starlight %s  pid %d  %s  up %s  generation %d  %s",
		d.Starlight, d.PID, d.App, duration(time.Duration(d.Uptime*float64(time.Second))), d.Generation, state))
	for _, l := range d.Listeners {
		line("listening " + l)
	}
	line(fmt.Sprintf("workers %d/%d  requests %d  %.1f req/s  recycles %d  crashes %d  reloads %d",
		len(d.Workers), d.Target, d.Totals.Requests, d.Totals.RequestsPerSecond, d.Totals.Recycles, d.Totals.Crashes, d.Totals.Reloads))
	b.WriteString("\n")
	line(fmt.Sprintf("%7s %4s %-8s %15s %6s %6s  %s", "PID", "GEN", "STATE", "REQS/BUDGET", "RSS", "AGE", "IN FLIGHT"))
	for _, w := range d.Workers {
		budget := "inf"
		if w.Budget > 0 {
			budget = strconv.FormatUint(w.Budget, 10)
		}
		inflight := ""
		if w.InFlight != "" {
			inflight = fmt.Sprintf("%s (%s)", w.InFlight, duration(time.Duration(w.InFlightS*float64(time.Second))))
		}
		if w.Hijacked > 0 { // websockets, as the dashboard shows them
			inflight = strings.TrimSpace(inflight + " ws " + strconv.Itoa(w.Hijacked))
		}
		line(fmt.Sprintf("%7d %4d %-8s %15s %6s %6s  %s", w.PID, w.Generation, w.State,
			strconv.FormatUint(w.Requests, 10)+"/"+budget, humanBytes(w.RSS), duration(time.Duration(w.Age*float64(time.Second))), inflight))
	}
	return b.String()
}

// cut shortens s to w characters, marking the cut.
func cut(s string, w int) string {
	r := []rune(s)
	if len(r) <= w {
		return s
	}
	return string(r[:w-1]) + "…"
}

// duration formats d in at most two units: 340ms, 4.2s, 4m05s, 1h02m, 3d04h.
func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// humanBytes formats a size as top does: 512B, 7.9M, 1.2G.
func humanBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + "B"
	}
	v := float64(n)
	for _, u := range []string{"K", "M", "G", "T"} {
		v /= 1024
		if v < 1024 || u == "T" {
			if v < 10 {
				return strconv.FormatFloat(v, 'f', 1, 64) + u
			}
			return strconv.FormatFloat(v, 'f', 0, 64) + u
		}
	}
	return "?"
}
