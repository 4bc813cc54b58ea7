package httpserver

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/starlight-go/starlight/internal/proto"
	"github.com/starlight-go/starlight/internal/scoreboard"
)

// Workers share each listening socket, and the kernel hands a new
// connection to whichever worker calls accept first. A worker that wakes
// first takes a whole burst of connections (wrk's 50, a proxy's pool) and
// then serves every keep-alive request on them on its share of the CPUs
// while the others idle. So before each accept a worker compares the
// connections it has open with the other ready workers' (the scoreboard
// has them) and, when it holds more than the least loaded one plus a
// little, waits a moment for the others to accept instead. The least
// loaded worker never waits, so someone always accepts; a wait is bounded,
// and a worker whose wait ran out (a peer stuck in a long request) stops
// balancing for a while.
//
// Only long-lived connections are worth it. A connection that carries one
// request is gone a moment after it is accepted, and waiting for a peer
// to take it only delays it: with keep-alive off, workers do not balance
// at all (see balances), and with keep-alive on they stop waiting while
// their connections carry one request each (clients that send
// "Connection: close", such as a proxy speaking HTTP/1.0) and no
// connection has carried a second one lately.
const (
	balanceSlack = 1                     // connections over the least loaded worker's that still accept at once
	balanceStep  = 20 * time.Microsecond // how often a waiting worker looks again
	balanceWait  = 10 * time.Millisecond // the longest wait before one accept (a busy machine may not run the peer for a few ms)
	balancePause = time.Second           // no balancing after a wait ran out
	trafficSpan  = time.Second           // how long a one-request or a reused connection counts as recent
)

type balancer struct {
	pausedUntil atomic.Int64 // unix ns
	lastSingle  atomic.Int64 // unix ns: a connection closed after its first request
	lastReuse   atomic.Int64 // unix ns: a connection carried a second request
}

// balances reports whether a worker balances accepts on a listener: not
// when it is the only process, not on a socket of its own (--reuse-port),
// and not with keep-alive off, where every connection carries one request.
func balances(spec *proto.Spec, l proto.Listener) bool {
	return !spec.Standalone && !l.Lane && spec.MaxKeepaliveReqs != 1
}

// served notes the traffic a request shows: its connection's first
// request and its last (single), or its second (reused).
func (b *balancer) served(requests int, closing bool, now int64) {
	switch {
	case requests == 1 && closing:
		if now-b.lastSingle.Load() > int64(trafficSpan/16) {
			b.lastSingle.Store(now)
		}
	case requests == 2:
		b.lastReuse.Store(now)
	}
}

// singleRequests reports whether connections lately carried one request
// each, and none a second.
func (b *balancer) singleRequests(now int64) bool {
	return now-b.lastSingle.Load() < int64(trafficSpan) && now-b.lastReuse.Load() >= int64(trafficSpan)
}

type balancedListener struct {
	net.Listener
	s *server
}

func (l balancedListener) Accept() (net.Conn, error) {
	l.s.yieldAccept()
	return l.Listener.Accept()
}

// yieldAccept waits, at most balanceWait, while another worker holds
// fewer connections.
func (s *server) yieldAccept() {
	if s.board == nil || !s.crowded() {
		return
	}
	now := time.Now()
	if ns := now.UnixNano(); ns < s.balance.pausedUntil.Load() || s.balance.singleRequests(ns) {
		return
	}
	deadline := now.Add(balanceWait)
	for !s.draining.Load() {
		time.Sleep(balanceStep)
		if !s.crowded() {
			return
		}
		if now = time.Now(); now.After(deadline) {
			s.balance.pausedUntil.Store(now.Add(balancePause).UnixNano())
			return
		}
	}
}

// overloaded reports whether this worker holds so many more connections
// than another ready worker that it should close keep-alive connections
// (after their current response) for their clients to reconnect to the
// others. Keep-alive connections stay where they were accepted, so after
// a worker was replaced, the survivor would otherwise keep every
// connection the old one dropped while its replacement idles.
func (s *server) overloaded() bool {
	mine := s.slot.Conns.Load()
	if mine < 4 {
		return false
	}
	least := s.leastConns()
	if least < 0 || mine-least <= max(2, mine/4) {
		return false
	}
	// Not while a peer left connections waiting lately (see yieldAccept):
	// they would come back here.
	return time.Now().UnixNano() >= s.balance.pausedUntil.Load()
}

// leastConns returns the fewest connections another ready worker holds,
// or -1 when there is no other.
func (s *server) leastConns() int32 {
	least := int32(-1)
	for i := range s.board.InUse() {
		o := s.board.Slot(i)
		if o == s.slot || o.State.Load() != scoreboard.Ready {
			continue
		}
		if n := o.Conns.Load(); least < 0 || n < least {
			least = n
		}
	}
	return least
}

// crowded reports whether another ready worker has more than balanceSlack
// connections fewer open than this one.
func (s *server) crowded() bool {
	mine := s.slot.Conns.Load()
	if mine <= balanceSlack {
		return false
	}
	least := s.leastConns()
	return least >= 0 && least+balanceSlack < mine
}
