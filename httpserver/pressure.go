package httpserver

import (
	"cmp"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/fdlimit"
)

// Descriptor pressure. Every connection a worker holds is a descriptor,
// and a process has at most its RLIMIT_NOFILE of them. A worker that
// accepts until accept(2) fails with EMFILE has nothing left for the
// requests it serves (a file, a database connection), and net/http then
// retries the accept in a loop that logs each failure; a few thousand
// connections that send half a request and wait (slowloris) would hold
// every worker there until --timeout.
//
// So a worker keeps a reserve: once the descriptors it holds come near
// its limit, it stops accepting, and makes room by closing connections
// that are waiting for a request head (new ones that have not sent a
// complete one, idle keep-alive ones), the oldest first. A request being
// served is never closed: when every connection carries one, the worker
// waits until one ends. The kernel keeps new connections queued
// meanwhile, and the other workers take them. Should the app's own
// descriptors exhaust the limit all the same, a failed accept is handled
// the same way, and the count is taken again, instead of net/http's retry
// loop.

// pressure is a worker's view of its descriptors.
type pressure struct {
	s     *server
	limit int64 // soft RLIMIT_NOFILE
	high  int64 // descriptors at which accepting stops
	low   int64 // what room is made down to, once there

	// base is the descriptors open other than connections (listeners,
	// pipes, log files, the app's own), counted at start and again after
	// a failed accept.
	base atomic.Int64

	mu      sync.Mutex // one accept loop makes room at a time
	shed    int        // connections closed for room since the last log line; under mu
	full    int        // accepts failed for want of a descriptor since then; under mu
	logged  time.Time  // the last log line; under mu
	pending bool       // a line is due once logEvery has passed; under mu
}

// minConns is how many connections a worker accepts whatever its count:
// one that holds none must accept, or it would never serve again.
const minConns = 4

// shedMinAge is how long a new connection may wait for its request head
// before it may be closed for room: a client sends the head as soon as it
// has connected (after the TLS handshake, a round trip or two), so one
// accepted a moment ago is most likely a request on its way.
const shedMinAge = 500 * time.Millisecond

// pressureLog is the most often a worker logs that it sheds.
const pressureLog = 5 * time.Second

// newPressure sets the marks for a limit on open files.
func newPressure(s *server, limit uint64) *pressure {
	if limit == 0 || limit > 1<<40 {
		return nil // unlimited, or unknown: nothing to watch
	}
	l := int64(limit)
	reserve := min(max(l/8, 16), 1024) // for the requests being served
	p := &pressure{s: s, limit: l, high: l - reserve}
	p.low = p.high - max(l/64, 4)
	p.base.Store(openFDs())
	return p
}

// watchDescriptors raises this process's limit on open files to the
// hard limit and watches it.
func (s *server) watchDescriptors() fdlimit.Limits {
	l := fdlimit.Raise()
	s.pressure = newPressure(s, l.Soft)
	return l
}

// openFDs counts this process's open descriptors; 16 if it cannot.
func openFDs() int64 {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 16
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 16
	}
	return int64(len(names)) - 1 // not the one reading it
}

// used is the descriptors held now, as counted.
func (p *pressure) used() int64 { return p.base.Load() + p.s.conns.Load() }

// listener wraps ln so that its accepts wait for room.
func (p *pressure) listener(ln net.Listener) net.Listener {
	if p == nil {
		return ln
	}
	return pressureListener{ln, p}
}

type pressureListener struct {
	net.Listener
	p *pressure
}

func (l pressureListener) Accept() (net.Conn, error) {
	for {
		l.p.room()
		c, err := l.Listener.Accept()
		if err != nil && outOfFiles(err) && !l.p.s.draining.Load() {
			l.p.exhausted()
			continue
		}
		return c, err
	}
}

// outOfFiles reports whether an accept failed for want of a descriptor.
func outOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// room returns once the worker may accept: at once while it holds fewer
// descriptors than its high mark (two atomic loads), else once it has
// made room.
func (p *pressure) room() {
	if p.used() < p.high {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.makeRoom()
}

// makeRoom closes connections waiting for a request head, oldest first,
// down to the low mark, and waits until their descriptors are free; with
// none to close, it waits for connections to end. Under p.mu.
func (p *pressure) makeRoom() {
	for !p.s.draining.Load() {
		used := p.used()
		if used < p.high || p.s.conns.Load() < minConns {
			break
		}
		n := p.s.tracker.shed(int(used-p.low), true)
		p.shed += n
		if n > 0 && p.s.set.budget > 0 {
			// They carried no request: not part of the budget.
			p.s.accepted.Add(^uint64(n - 1))
		}
		step, wait := time.Millisecond, 100*time.Millisecond // closed ones end at once
		if n == 0 {
			step, wait = 5*time.Millisecond, 50*time.Millisecond // requests in flight: until one ends
		}
		for end := time.Now().Add(wait); p.used() >= p.high && time.Now().Before(end) && !p.s.draining.Load(); {
			time.Sleep(step)
		}
	}
	p.report()
}

// exhausted handles an accept that failed for want of a descriptor: the
// count of descriptors other than connections is taken again (the app
// holds more than it did at start), and room made.
func (p *pressure) exhausted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.full++
	if b := openFDs() - p.s.conns.Load(); b > 0 {
		p.base.Store(b)
	}
	p.makeRoom()
	time.Sleep(time.Millisecond) // never a busy loop on a limit hit from elsewhere
}

// report logs what makeRoom did, at most once per pressureLog. Under p.mu.
func (p *pressure) report() {
	if p.shed == 0 && p.full == 0 {
		return
	}
	now := time.Now()
	if now.Sub(p.logged) < pressureLog {
		if !p.pending {
			p.pending = true
			time.AfterFunc(pressureLog-now.Sub(p.logged), func() {
				p.mu.Lock()
				defer p.mu.Unlock()
				p.pending = false
				p.report()
			})
		}
		return
	}
	var what []string
	if p.full > 0 {
		what = append(what, plural(p.full, "accept")+" failed for want of a descriptor")
	}
	if p.shed > 0 {
		what = append(what, "closed "+plural(p.shed, "connection")+" that had sent no complete request head, oldest first")
	}
	p.s.logger.Printf("starlight: worker %d near its limit of %d open files (%d held): %s",
		os.Getpid(), p.limit, p.used(), strings.Join(what, "; "))
	p.shed, p.full, p.logged = 0, 0, now
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// shed closes up to n connections that wait for a request head (new ones
// accepted shedMinAge ago at least, and with idleToo idle ones between
// keep-alive requests), the oldest first, and returns how many it closed.
// A connection whose request has started is never one.
func (t *tracker) shed(n int, idleToo bool) int {
	if n <= 0 {
		return 0
	}
	type waiting struct {
		ci    *connInfo
		since int64
	}
	var cands []waiting
	young := time.Now().UnixNano() - int64(shedMinAge)
	t.mu.Lock()
	for _, ci := range t.conns {
		switch p := ci.phase.Load(); {
		case p == phaseNew:
			if ci.accepted <= young {
				cands = append(cands, waiting{ci, ci.accepted})
			}
		case idleToo && ci.between(p):
			cands = append(cands, waiting{ci, ci.since.Load()})
		}
	}
	t.mu.Unlock()
	slices.SortFunc(cands, func(a, b waiting) int {
		if c := cmp.Compare(a.since, b.since); c != 0 {
			return c
		}
		return cmp.Compare(a.ci.seq, b.ci.seq) // accepted first
	})
	closed := 0
	for _, w := range cands {
		if closed == n {
			break
		}
		p := w.ci.phase.Load()
		if (p != phaseNew && !(idleToo && w.ci.between(p))) || !w.ci.phase.CompareAndSwap(p, phaseTimedOut) {
			continue // a request started on it meanwhile
		}
		// The socket itself, under TLS and the strict reader, not a
		// TLS close (which may wait on the client): net/http's
		// goroutine for the connection fails its read and ends.
		c := w.ci.conn
		for {
			u, ok := c.(interface{ NetConn() net.Conn })
			if !ok {
				break
			}
			c = u.NetConn()
		}
		c.Close()
		closed++
	}
	return closed
}
