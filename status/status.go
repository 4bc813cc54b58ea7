// Package status is what a starlight master shows of its pool to a user
// interface: snapshots of the workers, events, the workers' log lines, and
// the commands an interface sends back. The types are plain data (no
// channels, funcs or pointers into the master), so that they can be copied
// freely and travel over a control socket; the package imports nothing of
// the master.
package status

import "time"

// WorkerState is the life-cycle state of one worker process.
type WorkerState string

const (
	StateStarting WorkerState = "starting" // spawned, not yet serving
	StateIdle     WorkerState = "idle"     // serving, no request in flight
	StateBusy     WorkerState = "busy"     // at least one request in flight
	StateExiting  WorkerState = "exiting"  // draining before a graceful exit
)

// WorkerInfo describes one live worker process.
type WorkerInfo struct {
	Slot       int         // scoreboard slot
	PID        int         // process id
	Generation int         // build generation the worker runs
	State      WorkerState // starting, idle, busy or exiting
	Requests   uint64      // requests served so far
	Budget     uint64      // requests before it recycles; 0 = unlimited
	Active     int         // requests in flight
	Hijacked   int         // connections the app took over (websockets) still open
	InFlight   string      // "METHOD /path" of a request in flight, if any
	Since      time.Time   // when that request started (zero if none)
	Started    time.Time   // when the process was started
	RSS        uint64      // resident memory in bytes (0 if unknown)
	HTTP       HTTPStats   // what its requests came to, since it started
}

// LatencyBuckets is the number of buckets of HTTPStats.Latency.
const LatencyBuckets = 18

// LatencyBound is the upper bound of latency bucket i: about 65 µs for
// bucket 0, doubling with each bucket; the last bucket has none (it holds
// everything over LatencyBound(LatencyBuckets-2), about 4.3 s).
func LatencyBound(i int) time.Duration { return time.Duration(1) << (16 + i) }

// HTTPStats counts requests' outcomes. The counts only grow: the
// difference between two snapshots' counts is what happened between them.
type HTTPStats struct {
	Classes [4]uint64              // responses by status class: 2xx, 3xx, 4xx, 5xx
	Panics  uint64                 // panics in the app the server recovered from
	Latency [LatencyBuckets]uint64 // requests by duration (see LatencyBound)
	// LatencySum is the time the requests in Latency took, summed (to
	// the microsecond).
	LatencySum time.Duration
}

// Add adds o's counts to h's.
func (h *HTTPStats) Add(o HTTPStats) {
	for i := range h.Classes {
		h.Classes[i] += o.Classes[i]
	}
	h.Panics += o.Panics
	for i := range h.Latency {
		h.Latency[i] += o.Latency[i]
	}
	h.LatencySum += o.LatencySum
}

// Sub returns the counts of h less those of an earlier o, none below zero.
func (h HTTPStats) Sub(o HTTPStats) HTTPStats {
	d := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	var r HTTPStats
	for i := range h.Classes {
		r.Classes[i] = d(h.Classes[i], o.Classes[i])
	}
	r.Panics = d(h.Panics, o.Panics)
	for i := range h.Latency {
		r.Latency[i] = d(h.Latency[i], o.Latency[i])
	}
	r.LatencySum = time.Duration(d(uint64(max(h.LatencySum, 0)), uint64(max(o.LatencySum, 0))))
	return r
}

// Count is the number of requests the latency histogram holds.
func (h HTTPStats) Count() uint64 {
	var n uint64
	for _, c := range h.Latency {
		n += c
	}
	return n
}

// Quantile estimates the latency under which a fraction q of the
// requests finished, interpolating within the bucket it falls in; ok is
// false when there are no requests. A quantile in the last bucket is its
// lower bound.
func (h HTTPStats) Quantile(q float64) (d time.Duration, ok bool) {
	n := h.Count()
	if n == 0 {
		return 0, false
	}
	rank := q * float64(n)
	var seen float64
	for i, c := range h.Latency {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank || i == len(h.Latency)-1 {
			lo := time.Duration(0)
			if i > 0 {
				lo = LatencyBound(i - 1)
			}
			if i == len(h.Latency)-1 {
				return lo, true
			}
			frac := (rank - seen) / float64(c)
			frac = max(0, min(1, frac))
			return lo + time.Duration(frac*float64(LatencyBound(i)-lo)), true
		}
		seen += float64(c)
	}
	return LatencyBound(len(h.Latency) - 2), true
}

// Snapshot is the state of the pool at one instant.
type Snapshot struct {
	Time       time.Time
	Started    time.Time // when the master started
	App        string    // APP as named on the command line
	Build      string    // the binary the current generation runs
	Listeners  []string  // URLs or socket paths served
	Generation int       // newest generation started
	Target     int       // wanted number of workers
	Workers    []WorkerInfo
	Requests   uint64 // requests served by every worker, past and present
	Recycles   int    // workers retired after their request budget or harakiri
	Crashes    int    // workers that exited with an error or a signal
	Reloads    int    // slow restarts completed
	Reloading  bool   // a slow restart is under way
	Stopping   bool   // a graceful stop is under way
	Halted     bool   // the app cannot start: no worker runs until a change
	HaltReason string // why, when Halted
	// HTTP is what the requests of every worker, past and present, came
	// to.
	HTTP HTTPStats

	// The reload under way (Reloading): the generation it builds or
	// rolls out, since when, and whether it is still being built.
	ReloadGen   int       `json:",omitempty"`
	ReloadSince time.Time `json:",omitempty"`
	Building    bool      `json:",omitempty"`
}

// EventKind names what happened.
type EventKind string

const (
	EventStarted        EventKind = "started"         // master serving: Message lists listeners
	EventSpawned        EventKind = "spawned"         // worker process started
	EventReady          EventKind = "ready"           // worker reported ready
	EventRecycled       EventKind = "recycled"        // worker exited after its budget
	EventHarakiri       EventKind = "harakiri"        // worker exited at the app's request
	EventExited         EventKind = "exited"          // worker exited as asked (stop, scale down, reload)
	EventCrashed        EventKind = "crashed"         // worker exited non-zero or by a signal: Detail has its last stderr lines
	EventPanic          EventKind = "panic"           // the app panicked in a request, the worker answered 500 and serves on: Detail has the stack's top
	EventBackoff        EventKind = "backoff"         // respawn delayed after crashes
	EventReloadStarted  EventKind = "reload-started"  // slow restart begun
	EventReloadBuilt    EventKind = "reload-built"    // new build ready
	EventReloadFailed   EventKind = "reload-failed"   // build or rollout failed: Detail has the output
	EventReloadFinished EventKind = "reload-finished" // every worker runs the new generation
	EventScaled         EventKind = "scaled"          // target worker count changed
	EventSignal         EventKind = "signal"          // master received a signal
	EventStopping       EventKind = "stopping"        // graceful or immediate stop begun
	EventError          EventKind = "error"           // anything else that went wrong
	EventInfo           EventKind = "info"            // anything else worth saying
)

// Event is one thing that happened to the pool.
type Event struct {
	Time       time.Time
	Kind       EventKind
	PID        int    // worker pid, when about a worker
	Slot       int    // worker slot, when about a worker
	Generation int    // generation concerned
	Requests   uint64 // requests the worker served, on exit
	ExitCode   int    // exit status, on crash (-1 if killed by a signal)
	Signal     string // signal name, on crash by signal or EventSignal
	Message    string // one line, ready to show
	Detail     string // more lines (compiler output, stack), may be empty
}

// Stream tells where a log line came from.
type Stream string

const (
	StreamStdout Stream = "stdout"
	StreamStderr Stream = "stderr"
	StreamAccess Stream = "access"
)

// LogLine is one line a worker wrote.
type LogLine struct {
	Time   time.Time
	PID    int
	Stream Stream
	Text   string // without the trailing newline
}

// CommandKind names what a user interface asks the master to do.
type CommandKind string

const (
	CmdReload    CommandKind = "reload"     // slow restart onto a new generation
	CmdScaleUp   CommandKind = "scale-up"   // one worker more
	CmdScaleDown CommandKind = "scale-down" // one worker fewer
	CmdScale     CommandKind = "scale"      // Command.Workers workers
	CmdStop      CommandKind = "stop"       // graceful stop
	CmdForceStop CommandKind = "force-stop" // immediate stop
	CmdReopen    CommandKind = "reopen"     // reopen log files
	CmdAccessOn  CommandKind = "access-on"  // send access-log lines to the observer
	CmdAccessOff CommandKind = "access-off" // stop sending them (the default)
	CmdRecycle   CommandKind = "recycle"    // worker PID drains and exits; a new one takes its place
	CmdKill      CommandKind = "kill"       // worker PID is killed (SIGKILL); a new one takes its place
)

// Command is a request from a user interface to the master.
type Command struct {
	Kind    CommandKind
	Workers int `json:",omitempty"` // CmdScale: the number of workers wanted
	PID     int `json:",omitempty"` // CmdRecycle and CmdKill: the worker
}
