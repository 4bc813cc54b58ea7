package prefork

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/internal/control"
	"github.com/starlight-go/starlight/status"
)

// The control socket: the master serves its snapshot, its events and its
// workers' log lines, and takes commands, on a unix socket (see package
// internal/control for the protocol). starlight status, attach and ctl
// are its clients. Nothing a client does (garbage, huge frames, silence,
// not reading) blocks or slows the loop: the loop only pushes into
// bounded per-client queues, and a client whose queue is full is
// dropped.

const (
	controlHistoryEvents = 200     // events kept for a client that attaches
	controlHistoryLogs   = 1000    // log lines kept likewise
	controlHistoryBytes  = 1 << 20 // and at most this much of their text
	controlQueue         = 4096    // frames queued per client before it is dropped
	controlMaxClients    = 64
	controlHelloTimeout  = 5 * time.Second // for a client's Hello
	controlWriteTimeout  = 5 * time.Second // for one frame to a client
	controlSnapEvery     = 250 * time.Millisecond
	// What a frame carries of a log line and of an event's detail: the
	// rest is cut, so that a frame stays under control.MaxFrame.
	controlMaxText   = 64 << 10
	controlMaxDetail = 256 << 10
)

// ControlNone is the --control value that turns the socket off.
const ControlNone = "none"

// controlServer is the master's end of the control socket.
type controlServer struct {
	m     *Master
	socks []*controlSocket

	mu       sync.Mutex
	events   history[status.Event] // the newest controlHistoryEvents
	logs     history[status.LogLine]
	logBytes int
	clients  map[*controlClient]struct{}
	access   int // watching clients that asked for access lines
	closed   bool
	wg       sync.WaitGroup

	// The snapshot sent to watching clients, taken once for all of them
	// (it reads each worker's memory from /proc).
	snapMu sync.Mutex
	snap   status.Snapshot
	snapAt time.Time
}

// shared returns a snapshot at most half a tick old, for watchers.
func (s *controlServer) shared() status.Snapshot {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	if time.Since(s.snapAt) >= controlSnapEvery/2 {
		s.snap, s.snapAt = s.m.Snapshot(), time.Now()
	}
	return s.snap
}

// controlSocket is one socket file the server listens on.
type controlSocket struct {
	path  string
	ln    *net.UnixListener
	bound os.FileInfo
}

// controlClient is one connection.
type controlClient struct {
	m        *Master
	conn     *net.UnixConn
	out      chan control.Message
	gone     chan struct{}
	once     sync.Once
	watching bool // under the server's mu
	access   bool // under the server's mu: wants access lines
}

// close ends the connection; its goroutines see it and return.
func (c *controlClient) close() {
	c.once.Do(func() {
		close(c.gone)
		c.conn.Close()
	})
}

// send queues a frame without blocking; a client whose queue is full is
// too slow to keep, and is dropped.
func (c *controlClient) send(msg control.Message) {
	select {
	case c.out <- msg:
	case <-c.gone:
	default:
		c.m.note(fmt.Errorf("control socket: dropped a client that did not keep up (%d frames queued)", controlQueue))
		c.close()
	}
}

// controlPaths lists the sockets the master serves: --control or the
// default, and FILE.sock beside --pid.
func (m *Master) controlPaths() []string {
	if m.cfg.Control == ControlNone || m.cfg.Workers == 0 {
		return nil
	}
	p := m.cfg.Control
	if p == "" {
		p = control.DefaultPath(os.Geteuid(), os.Getpid())
	}
	paths := []string{p}
	if m.cfg.PidFile != "" {
		if q := control.PidFilePath(m.cfg.PidFile); q != p {
			paths = append(paths, q)
		}
	}
	return paths
}

// setupControl binds the control sockets, mode 0600, owned by the user
// the master runs as once it has dropped privileges. Clients are served
// once the pool is there (startControl).
func (m *Master) setupControl() error {
	paths := m.controlPaths()
	if len(paths) == 0 {
		return nil
	}
	s := &controlServer{m: m, clients: map[*controlClient]struct{}{},
		events: newHistory[status.Event](controlHistoryEvents),
		logs:   newHistory[status.LogLine](controlHistoryLogs)}
	m.ctl = s
	m.atExit(s.close)
	for i, p := range paths {
		if i == 0 && m.cfg.Control == "" {
			dir := filepath.Dir(p)
			mode := os.FileMode(0o700)
			if os.Geteuid() == 0 {
				mode = 0o755 // /run/starlight, for every master run as root
			}
			if err := os.MkdirAll(dir, mode); err != nil {
				return fmt.Errorf("control socket: %w (--control PATH puts it elsewhere, --control none turns it off)", err)
			}
			if n := sweepControlDir(dir); n > 0 {
				m.info("removed stale control sockets in %s: %d", dir, n)
			}
		}
		sock, err := bindControl(p, m.fileOwner())
		if err != nil {
			return err
		}
		s.socks = append(s.socks, sock)
		if err := m.id.chownSocket(&listener{path: p, bound: sock.bound}); err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
	}
	return nil
}

// bindControl binds one control socket: readable and writable by its
// owner alone, from the start (the umask is set around the bind).
// A stale one is replaced if it is root's or owner's, as a listener's.
func bindControl(path string, owner int) (*controlSocket, error) {
	fail := func(err error) (*controlSocket, error) {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if _, err := clearStaleSocket(path, owner); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	unix.Umask(old)
	if err != nil {
		return fail(unwrapOp(err))
	}
	ln.SetUnlinkOnClose(false) // removed by close, if still ours
	os.Chmod(path, 0o600)
	st, _ := os.Lstat(path)
	return &controlSocket{path: path, ln: ln, bound: st}, nil
}

// sweepControlDir removes the sockets of masters that died without
// removing theirs: nothing answers on them.
func sweepControlDir(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".sock")
		if !ok || e.Type()&os.ModeSocket == 0 {
			continue
		}
		if pid, err := strconv.Atoi(name); err == nil && unix.Kill(pid, 0) != unix.ESRCH {
			continue // its master may run: leave it be
		}
		p := filepath.Join(dir, e.Name())
		c, err := net.DialTimeout("unix", p, time.Second)
		if err == nil {
			c.Close()
			continue
		}
		if errors.Is(err, unix.ECONNREFUSED) && os.Remove(p) == nil {
			n++
		}
	}
	return n
}

// startControl starts serving the control sockets.
func (m *Master) startControl() error {
	if m.ctl == nil {
		return nil
	}
	for _, sock := range m.ctl.socks {
		m.ctl.wg.Go(func() { m.ctl.accept(sock) })
	}
	return nil
}

// controlNames is what the banner says of the control sockets.
func (m *Master) controlNames() string {
	if m.ctl == nil {
		return ""
	}
	var ps []string
	for _, s := range m.ctl.socks {
		ps = append(ps, s.path)
	}
	return strings.Join(ps, " ")
}

// close stops accepting, drops every client and removes the socket
// files (those still the ones bound).
func (s *controlServer) close() {
	s.mu.Lock()
	s.closed = true
	for c := range s.clients {
		c.close()
	}
	s.mu.Unlock()
	for _, sock := range s.socks {
		sock.ln.Close()
		if now, err := os.Lstat(sock.path); err == nil && sock.bound != nil && os.SameFile(now, sock.bound) {
			os.Remove(sock.path)
		}
	}
	s.wg.Wait()
}
