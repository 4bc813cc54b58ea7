package prefork

// The control socket's connections: a client's handshake, what it is
// sent (snapshots, events, log lines, from bounded queues) and the
// commands it gives. control.go binds and closes the socket.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/internal/control"
	"github.com/starlight-go/starlight/internal/version"
	"github.com/starlight-go/starlight/status"
)

func (s *controlServer) accept(sock *controlSocket) {
	for {
		conn, err := sock.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: let it pass
			continue
		}
		s.wg.Go(func() { s.serve(conn) })
	}
}

// peerAllowed checks the peer's uid (SO_PEERCRED): the master's user or
// root.
func peerAllowed(conn *net.UnixConn) (uid int, ok bool) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return -1, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return -1, false
	}
	uid = int(cred.Uid)
	return uid, uid == 0 || uid == os.Geteuid()
}

// refuse answers a Hello with an error and hangs up.
func refuse(conn *net.UnixConn, why string) {
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	control.NewWriter(conn).Write(control.Hello{Protocol: control.Protocol, Version: control.Version, Starlight: version.Version, Error: why})
	conn.Close()
}

// note reports a control-socket matter to the loop, without waiting.
func (m *Master) note(err error) {
	select {
	case m.notec <- err:
	default:
	}
}

// serve runs one connection: the handshake, then its requests.
func (s *controlServer) serve(conn *net.UnixConn) {
	m := s.m
	if uid, ok := peerAllowed(conn); !ok {
		m.note(fmt.Errorf("control socket: refused a client of uid %d: only the server's user (uid %d) and root may connect", uid, os.Geteuid()))
		refuse(conn, fmt.Sprintf("refused: uid %d is neither the server's user (uid %d) nor root", uid, os.Geteuid()))
		return
	}
	r := control.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(controlHelloTimeout))
	var hello control.Hello
	if err := r.Read(&hello); err != nil {
		refuse(conn, "expected a hello: "+err.Error())
		return
	}
	if err := control.CheckHello(hello, "client"); err != nil {
		refuse(conn, err.Error())
		return
	}
	conn.SetReadDeadline(time.Time{})

	c := &controlClient{m: m, conn: conn, out: make(chan control.Message, controlQueue), gone: make(chan struct{})}
	s.mu.Lock()
	if s.closed || len(s.clients) >= controlMaxClients {
		s.mu.Unlock()
		refuse(conn, fmt.Sprintf("too many control clients (%d)", controlMaxClients))
		return
	}
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	defer s.forget(c)

	dir, _ := os.Getwd()
	conn.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
	w := control.NewWriter(conn)
	if err := w.Write(control.Hello{Protocol: control.Protocol, Version: control.Version, Starlight: version.Version,
		PID: os.Getpid(), Dir: dir, App: m.app.name}); err != nil {
		return
	}
	var writer sync.WaitGroup
	writer.Go(func() { s.write(c, w) })
	defer writer.Wait()
	defer c.close()
	for {
		var req control.Request
		if err := r.Read(&req); err != nil {
			return // garbage, a huge frame or a hang-up: the same end
		}
		switch req.Op {
		case control.OpSnapshot:
			snap := m.Snapshot()
			c.send(control.Message{Type: control.MsgSnapshot, ID: req.ID, Snapshot: &snap})
		case control.OpCommand:
			if req.Command == nil {
				c.send(control.Message{Type: control.MsgError, ID: req.ID, Error: "command: none given"})
				continue
			}
			s.command(c, req)
		case control.OpWatch:
			s.watch(c, req)
		default:
			c.send(control.Message{Type: control.MsgError, ID: req.ID, Error: fmt.Sprintf("unknown op %q", req.Op)})
		}
	}
}

// forget removes a client that has gone.
func (s *controlServer) forget(c *controlClient) {
	c.close()
	s.mu.Lock()
	delete(s.clients, c)
	access := c.access && s.access == 1
	if c.access {
		s.access--
	}
	s.mu.Unlock()
	if access {
		s.m.Do(status.Command{Kind: status.CmdAccessOff})
	}
}

// write sends a client its queued frames, and a snapshot every
// controlSnapEvery while it watches.
func (s *controlServer) write(c *controlClient, w *control.Writer) {
	tick := time.NewTicker(controlSnapEvery)
	defer tick.Stop()
	for {
		var msg control.Message
		select {
		case <-c.gone:
			return
		case msg = <-c.out:
		case <-tick.C:
			s.mu.Lock()
			watching := c.watching
			s.mu.Unlock()
			if !watching {
				continue
			}
			snap := s.shared()
			msg = control.Message{Type: control.MsgSnapshot, Snapshot: &snap}
		}
		c.conn.SetWriteDeadline(time.Now().Add(controlWriteTimeout))
		if err := w.Write(msg); err != nil {
			c.close()
			return
		}
	}
}

// controlRequest is a command from a control client to the loop; the
// loop answers on reply, which has room for the answer.
type controlRequest struct {
	cmd   status.Command
	reply chan control.Done
}

// command hands a command to the loop and queues its answer.
func (s *controlServer) command(c *controlClient, req control.Request) {
	m := s.m
	cmd := *req.Command
	switch cmd.Kind {
	case status.CmdAccessOn, status.CmdAccessOff:
		// Access lines flow while some client (or the dashboard) wants
		// them: the clients' wishes are counted here.
		on := cmd.Kind == status.CmdAccessOn
		s.mu.Lock()
		changed := c.access != on
		c.access = on
		if changed && on {
			s.access++
		} else if changed {
			s.access--
		}
		pass := changed && ((on && s.access == 1) || (!on && s.access == 0))
		s.mu.Unlock()
		if !pass {
			c.send(control.Message{Type: control.MsgDone, ID: req.ID, Done: &control.Done{}})
			return
		}
	}
	r := controlRequest{cmd: cmd, reply: make(chan control.Done, 1)}
	select {
	case m.ctlc <- r:
	case <-m.done:
		c.send(control.Message{Type: control.MsgError, ID: req.ID, Error: "the server has stopped"})
		return
	case <-c.gone:
		return
	}
	select {
	case d := <-r.reply:
		c.send(control.Message{Type: control.MsgDone, ID: req.ID, Done: &d})
	case <-m.done:
		c.send(control.Message{Type: control.MsgError, ID: req.ID, Error: "the server has stopped"})
	case <-c.gone:
	}
}

// watch subscribes a client to the events and log lines, after the
// history if it asked for it; nothing falls between the two.
func (s *controlServer) watch(c *controlClient, req control.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.History {
		for _, e := range s.events.items() {
			c.send(control.Message{Type: control.MsgEvent, Event: &e})
		}
		for _, l := range s.logs.items() {
			c.send(control.Message{Type: control.MsgLog, Log: &l})
		}
	}
	c.send(control.Message{Type: control.MsgHistoryEnd, ID: req.ID})
	c.watching = true
}

// Event keeps an event for clients to come and sends it to those
// watching. It never blocks.
func (s *controlServer) Event(e status.Event) {
	if len(e.Detail) > controlMaxDetail {
		e.Detail = e.Detail[:controlMaxDetail] + " [cut at 256 KiB]"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events.push(e)
	if len(s.clients) == 0 {
		return
	}
	msg := control.Message{Type: control.MsgEvent, Event: &e}
	for c := range s.clients {
		if c.watching {
			c.send(msg)
		}
	}
}

// Log keeps a worker's log line (access lines are not kept) and sends
// it to the clients watching. It never blocks.
func (s *controlServer) Log(l status.LogLine) {
	if len(l.Text) > controlMaxText {
		l.Text = l.Text[:controlMaxText] + " [cut at 64 KiB]"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.Stream != status.StreamAccess {
		if old, ok := s.logs.push(l); ok {
			s.logBytes -= len(old.Text)
		}
		s.logBytes += len(l.Text)
		for s.logBytes > controlHistoryBytes && s.logs.n > 1 {
			old, _ := s.logs.pop()
			s.logBytes -= len(old.Text)
		}
	}
	if len(s.clients) == 0 {
		return
	}
	msg := control.Message{Type: control.MsgLog, Log: &l}
	for c := range s.clients {
		if c.watching && (l.Stream != status.StreamAccess || c.access) {
			c.send(msg)
		}
	}
}

// controlCommand acts on a control client's command in the loop, and
// says what came of it.
func (m *Master) controlCommand(c status.Command) control.Done {
	var said []status.Event
	m.said = &said
	m.command(c)
	m.said = nil
	m.publish()
	gen := m.gen
	if m.roll != nil {
		gen = m.roll.gen
	}
	return control.Done{Events: said, Target: m.target, Generation: gen}
}

// history keeps the newest items pushed, up to its size.
type history[T any] struct {
	buf     []T
	head, n int // the oldest item, and how many there are
}

func newHistory[T any](size int) history[T] { return history[T]{buf: make([]T, size)} }

// push adds v, and returns the oldest item if it made room for v.
func (h *history[T]) push(v T) (old T, dropped bool) {
	if h.n == len(h.buf) {
		old, dropped = h.pop()
	}
	h.buf[(h.head+h.n)%len(h.buf)] = v
	h.n++
	return old, dropped
}

// pop removes the oldest item.
func (h *history[T]) pop() (T, bool) {
	var zero T
	if h.n == 0 {
		return zero, false
	}
	v := h.buf[h.head]
	h.buf[h.head] = zero
	h.head = (h.head + 1) % len(h.buf)
	h.n--
	return v, true
}

// items copies the items out, oldest first.
func (h *history[T]) items() []T {
	out := make([]T, 0, h.n)
	for i := range h.n {
		out = append(out, h.buf[(h.head+i)%len(h.buf)])
	}
	return out
}
