package httpserver

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/proto"
	"github.com/starlight-go/starlight/internal/scoreboard"
)

// readyBoard is a scoreboard of n slots, each a ready worker's.
func readyBoard(tb testing.TB, n int) *scoreboard.Board {
	tb.Helper()
	board, err := scoreboard.Create(n)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { board.Close() })
	for i := range n {
		board.Slot(i).Reset(1, 0, 0)
		board.Slot(i).State.Store(scoreboard.Ready)
		board.Use(i)
	}
	return board
}

// twoWorkers is a server on slot 0 of a board whose slot 1 is another
// ready worker.
func twoWorkers(t *testing.T) (*server, *scoreboard.Slot) {
	t.Helper()
	board := readyBoard(t, 2)
	s := newServer(http.NotFoundHandler(), settings{maxKeepaliveReqs: 0})
	s.board, s.slot = board, board.Slot(0)
	return s, board.Slot(1)
}

func TestBalance(t *testing.T) {
	s, peer := twoWorkers(t)
	for _, c := range []struct {
		mine, peer  int32
		peerState   uint32
		crowded     bool
		overloaded  bool
		description string
	}{
		{0, 0, scoreboard.Ready, false, false, "both idle"},
		{2, 0, scoreboard.Ready, true, false, "two more than the peer"},
		{2, 1, scoreboard.Ready, false, false, "one more than the peer"},
		{20, 0, scoreboard.Ready, true, true, "all on this worker"},
		{26, 24, scoreboard.Ready, true, false, "nearly even"},
		{20, 0, scoreboard.Starting, false, false, "the peer is not ready yet"},
		{20, 0, scoreboard.Exiting, false, false, "the peer drains"},
	} {
		s.slot.Conns.Store(c.mine)
		peer.Conns.Store(c.peer)
		peer.State.Store(c.peerState)
		if got := s.crowded(); got != c.crowded {
			t.Errorf("%s (%d against %d): crowded %v, want %v", c.description, c.mine, c.peer, got, c.crowded)
		}
		if got := s.overloaded(); got != c.overloaded {
			t.Errorf("%s (%d against %d): overloaded %v, want %v", c.description, c.mine, c.peer, got, c.overloaded)
		}
	}
}

// A peer that leaves connections waiting pauses balancing: no more waits
// before accepting, and no keep-alive connection closed to send it work.
func TestBalancePausesWhenPeerDoesNotAccept(t *testing.T) {
	s, peer := twoWorkers(t)
	s.slot.Conns.Store(20)
	peer.Conns.Store(0) // ready, but it never accepts
	begin := time.Now()
	s.yieldAccept()
	if waited := time.Since(begin); waited < balanceWait {
		t.Fatalf("yieldAccept returned after %s, want a wait of %s for the peer", waited, balanceWait)
	}
	if s.overloaded() {
		t.Error("still shedding connections to a peer that does not accept")
	}
	begin = time.Now()
	s.yieldAccept()
	if waited := time.Since(begin); waited >= balanceWait {
		t.Errorf("waited again (%s) while balancing is paused", waited)
	}
}

func TestBalances(t *testing.T) {
	for _, c := range []struct {
		spec proto.Spec
		l    proto.Listener
		want bool
	}{
		{proto.Spec{MaxKeepaliveReqs: 100}, proto.Listener{}, true},
		{proto.Spec{MaxKeepaliveReqs: 0}, proto.Listener{}, true},
		{proto.Spec{MaxKeepaliveReqs: 1}, proto.Listener{}, false},
		{proto.Spec{MaxKeepaliveReqs: 100}, proto.Listener{Lane: true}, false},
		{proto.Spec{MaxKeepaliveReqs: 100, Standalone: true}, proto.Listener{}, false},
	} {
		if got := balances(&c.spec, c.l); got != c.want {
			t.Errorf("keep-alive reqs %d, lane %v, standalone %v: balances %v, want %v",
				c.spec.MaxKeepaliveReqs, c.l.Lane, c.spec.Standalone, got, c.want)
		}
	}
}

// request serves one request on a connection that has carried done
// requests before, with "Connection: close" when closing.
func request(s *server, done int, closing bool) {
	ci := &connInfo{requests: done}
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), connKey{}, ci))
	r.Close = closing
	s.ServeHTTP(httptest.NewRecorder(), r)
}

// While connections carry one request each, a crowded worker accepts at
// once; a connection that carries a second request brings the wait back.
func TestNoBalanceForOneRequestConnections(t *testing.T) {
	s, peer := twoWorkers(t)
	s.slot.Conns.Store(20)
	peer.Conns.Store(0) // ready, but it never accepts: a wait would run out
	request(s, 0, true)
	if !s.balance.singleRequests(time.Now().UnixNano()) {
		t.Fatal("a first request with Connection: close did not count as a one-request connection")
	}
	s.yieldAccept()
	if s.balance.pausedUntil.Load() != 0 {
		t.Fatal("waited for the peer while connections carry one request each")
	}
	request(s, 1, false)
	if s.balance.singleRequests(time.Now().UnixNano()) {
		t.Fatal("a connection carried a second request, and balancing stayed off")
	}
	s.yieldAccept()
	if s.balance.pausedUntil.Load() == 0 {
		t.Error("did not wait for the peer once a connection carried a second request")
	}
}

// The ready pipe says ready, then draining when the worker drains on its
// own, whichever comes first; never draining when the master asked.
func TestNotices(t *testing.T) {
	for _, c := range []struct {
		name       string
		drainFirst bool
		reason     uint32
		want       []byte
	}{
		{"ready-then-budget", false, scoreboard.ExitBudget, []byte{proto.NoticeReady, proto.NoticeDraining}},
		{"ready-then-harakiri", false, scoreboard.ExitHarakiri, []byte{proto.NoticeReady, proto.NoticeDraining}},
		{"ready-then-signal", false, scoreboard.ExitSignal, []byte{proto.NoticeReady}},
		{"budget-before-ready", true, scoreboard.ExitBudget, []byte{proto.NoticeReady, proto.NoticeDraining}},
		{"signal-before-ready", true, scoreboard.ExitSignal, []byte{proto.NoticeReady}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			s := newServer(http.NotFoundHandler(), settings{})
			if c.drainFirst {
				s.drain(c.reason)
				s.notice(w)
			} else {
				s.notice(w)
				s.drain(c.reason)
			}
			got, err := io.ReadAll(r) // EOF: the worker closed its end
			if err != nil || string(got) != string(c.want) {
				t.Errorf("pipe read %v (%v), want %v then EOF", got, err, c.want)
			}
		})
	}
}
