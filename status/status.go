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
	EventCrashed        EventKind = "crashed"         // worker exited non-zero or by a signal
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
)

// Command is a request from a user interface to the master.
type Command struct {
	Kind    CommandKind
	Workers int `json:",omitempty"` // CmdScale: the number of workers wanted
}
