package prefork

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
)

// lastWords keeps what a worker wrote to stderr before it was ready, so
// that a master whose app cannot start can say why in its last message,
// wherever the output itself went (a log file, /dev/null under -D, a
// dashboard that is about to close).
//
// It also keeps, once asked to (captureStacks), what a frozen worker
// writes after it: the goroutine stacks it dumps on SIGQUIT.
type lastWords struct {
	done      atomic.Bool // the worker is ready: keep nothing more
	capturing atomic.Bool // keep everything, up to maxStacks

	mu    sync.Mutex
	first string // the first line of a Go panic or fatal error, if any
	last  string // the last non-blank line
	dump  []byte // what came since captureStacks
}

// maxStacks bounds the stacks kept for an event (the log has them all).
const maxStacks = 64 << 10

// maxWord bounds each line kept.
const maxWord = 300

// keep takes a batch of whole lines from the worker's stderr.
func (l *lastWords) keep(batch []byte) {
	if l.capturing.Load() {
		l.mu.Lock()
		if room := maxStacks - len(l.dump); room > 0 {
			l.dump = append(l.dump, batch[:min(len(batch), room)]...)
		}
		l.mu.Unlock()
	}
	if l.done.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range bytes.Lines(batch) {
		s := strings.TrimSpace(string(line))
		if s == "" {
			continue
		}
		if len(s) > maxWord {
			s = strings.ToValidUTF8(s[:maxWord], "") + "..."
		}
		if l.first == "" && (strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ")) {
			l.first = s
		}
		l.last = s
	}
}

// said is the line that best tells why the worker exited: a panic's
// message rather than the end of its stack, else the last line.
func (l *lastWords) said() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.first != "" {
		return l.first
	}
	return l.last
}

// captureStacks starts keeping everything the worker writes.
func (l *lastWords) captureStacks() { l.capturing.Store(true) }

// stacks is what the worker wrote since captureStacks.
func (l *lastWords) stacks() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.TrimRight(string(l.dump), "\n")
}
