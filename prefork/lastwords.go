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
type lastWords struct {
	done atomic.Bool // the worker is ready: keep nothing more

	mu    sync.Mutex
	first string // the first line of a Go panic or fatal error, if any
	last  string // the last non-blank line
}

// maxWord bounds each line kept.
const maxWord = 300

// keep takes a batch of whole lines from the worker's stderr.
func (l *lastWords) keep(batch []byte) {
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
