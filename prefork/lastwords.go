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
	tail  []byte // the last maxTail bytes it wrote, ready or not
}

// maxTail bounds the end of a worker's stderr kept for its crash event:
// a panic's message and the top of its stack.
const maxTail = 8 << 10

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
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(batch) >= maxTail {
		l.tail = append(l.tail[:0], batch[len(batch)-maxTail:]...)
	} else {
		if over := len(l.tail) + len(batch) - maxTail; over > 0 {
			l.tail = l.tail[:copy(l.tail, l.tail[over:])]
		}
		l.tail = append(l.tail, batch...)
	}
	if l.done.Load() {
		return
	}
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

// crashLines is what best tells why the worker died, from the end of its
// stderr: from the last Go panic or fatal error on, its message and the
// top of its stack (at most n lines); without one, the last lines.
func (l *lastWords) crashLines(n int) string {
	l.mu.Lock()
	tail := string(l.tail)
	l.mu.Unlock()
	lines := strings.Split(strings.TrimRight(tail, "\n"), "\n")
	if len(tail) == maxTail && len(lines) > 1 {
		lines = lines[1:] // the first one may be cut
	}
	from := -1
	for i := len(lines) - 1; i >= 0; i-- {
		if s := strings.TrimSpace(lines[i]); strings.HasPrefix(s, "panic: ") || strings.HasPrefix(s, "fatal error: ") {
			from = i
			// A panic while panicking ("panic: ... [recovered]") and
			// "fatal error:" after "panic:" belong to the one before.
			for from > 0 && strings.HasPrefix(strings.TrimSpace(lines[from-1]), "panic: ") {
				from--
			}
			break
		}
	}
	var out []string
	if from >= 0 {
		for _, s := range lines[from:] {
			if len(out) == n {
				break
			}
			if strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimRight(s, "\r"))
			}
		}
		return strings.Join(out, "\n")
	}
	for i := len(lines) - 1; i >= 0 && len(out) < min(n, 5); i-- {
		if strings.TrimSpace(lines[i]) != "" {
			out = append([]string{strings.TrimRight(lines[i], "\r")}, out...)
		}
	}
	return strings.Join(out, "\n")
}
