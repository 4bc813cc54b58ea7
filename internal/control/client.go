package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/version"
	"github.com/starlight-go/starlight/status"
)

// Client is a connection to a master's control socket.
type Client struct {
	Path  string
	Hello Hello // the server's

	conn   *net.UnixConn
	r      *Reader
	w      *Writer
	nextID int
}

// Dial connects to the control socket at path and shakes hands; timeout
// bounds both.
func Dial(path string, timeout time.Duration) (*Client, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.Dial("unix", path)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			err = op.Err
		}
		var sys *os.SyscallError
		if errors.As(err, &sys) {
			err = sys.Err
		}
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("%s: no server answers (a stale socket?)", path)
		case errors.Is(err, syscall.ENOENT):
			return nil, fmt.Errorf("%s: no such socket (is the server running?)", path)
		case errors.Is(err, syscall.EACCES):
			return nil, fmt.Errorf("%s: permission denied (run as the server's user or root)", path)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &Client{Path: path, conn: conn.(*net.UnixConn), r: NewReader(conn), w: NewWriter(conn)}
	conn.SetDeadline(time.Now().Add(timeout))
	// A server that refuses the client says why and hangs up without
	// reading: its answer is read even when the hello could not be sent.
	werr := c.w.Write(Hello{Protocol: Protocol, Version: Version, Starlight: version.Version})
	if err := c.r.Read(&c.Hello); err != nil {
		conn.Close()
		if werr != nil {
			return nil, fmt.Errorf("%s: %w", path, werr)
		}
		if errors.Is(err, ErrBadFrame) || errors.Is(err, ErrFrameTooLarge) {
			return nil, fmt.Errorf("%s: not a starlight control socket", path)
		}
		return nil, fmt.Errorf("%s: no hello from the server: %w", path, err)
	}
	conn.SetDeadline(time.Time{})
	if err := CheckHello(c.Hello, "server"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.Hello.Error != "" {
		conn.Close()
		return nil, fmt.Errorf("%s: %s", path, c.Hello.Error)
	}
	return c, nil
}

// Close hangs up.
func (c *Client) Close() error { return c.conn.Close() }

// Send sends a request and returns the ID its reply will carry.
func (c *Client) Send(req Request) (int, error) {
	c.nextID++
	req.ID = c.nextID
	return req.ID, c.w.Write(req)
}

// Recv returns the next message from the server.
func (c *Client) Recv() (Message, error) {
	var msg Message
	if err := c.r.Read(&msg); err != nil {
		if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
			return msg, err
		}
		return msg, fmt.Errorf("control connection: %w", err)
	}
	return msg, nil
}

// SetDeadline bounds the reads and writes to come; zero removes it.
func (c *Client) SetDeadline(t time.Time) { c.conn.SetDeadline(t) }

// reply sends req and waits for its reply, skipping what else comes.
func (c *Client) reply(req Request) (Message, error) {
	id, err := c.Send(req)
	if err != nil {
		return Message{}, err
	}
	for {
		msg, err := c.Recv()
		if err != nil {
			return msg, err
		}
		if msg.ID != id || msg.Type == MsgEvent || msg.Type == MsgLog {
			continue
		}
		if msg.Type == MsgError {
			return msg, errors.New(msg.Error)
		}
		return msg, nil
	}
}

// Snapshot asks for the pool's state now.
func (c *Client) Snapshot() (status.Snapshot, error) {
	msg, err := c.reply(Request{Op: OpSnapshot})
	if err != nil {
		return status.Snapshot{}, err
	}
	if msg.Snapshot == nil {
		return status.Snapshot{}, errors.New("control: snapshot reply without a snapshot")
	}
	return *msg.Snapshot, nil
}

// Do asks the master to act and returns what it did.
func (c *Client) Do(cmd status.Command) (Done, error) {
	msg, err := c.reply(Request{Op: OpCommand, Command: &cmd})
	if err != nil {
		return Done{}, err
	}
	if msg.Done == nil {
		return Done{}, errors.New("control: command reply without a result")
	}
	return *msg.Done, nil
}

// Server is a master found by Find.
type Server struct {
	Path  string
	Hello Hello
	Err   error // the socket did not answer as a server
}

// List returns the masters whose sockets are in dir, by pid.
func List(dir string, timeout time.Duration) []Server {
	entries, _ := os.ReadDir(dir)
	var out []Server
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".sock") || e.Type()&os.ModeSocket == 0 {
			continue
		}
		p := filepath.Join(dir, e.Name())
		c, err := Dial(p, timeout)
		if err != nil {
			if stale(p) {
				os.Remove(p) // its master is gone: a master run with --user could not remove it
				continue
			}
			out = append(out, Server{Path: p, Err: err})
			continue
		}
		out = append(out, Server{Path: p, Hello: c.Hello})
		c.Close()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Hello.PID < out[j].Hello.PID })
	return out
}

// ErrAmbiguous is Find's error when it cannot pick one server.
var ErrAmbiguous = errors.New("control: more than one server")

// Find picks the server a command with no --pid or --control means, the
// way git finds a repository: the one started from dir, else from its
// parent, and so on up to the root. It returns the servers it saw, for
// the caller to list when it cannot pick (ErrAmbiguous) or finds none.
func Find(sockDir, dir string, timeout time.Duration) (string, []Server, error) {
	all := List(sockDir, timeout)
	var live []Server
	for _, s := range all {
		if s.Err == nil {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return "", all, fmt.Errorf("no running starlight found in %s (start one, or name it with --pid FILE or --control PATH)", sockDir)
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		var here []Server
		for _, s := range live {
			if s.Hello.Dir == d {
				here = append(here, s)
			}
		}
		switch len(here) {
		case 1:
			return here[0].Path, all, nil
		case 0:
		default:
			return "", here, fmt.Errorf("%w started from %s: name one with --pid FILE or --control PATH", ErrAmbiguous, d)
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	return "", live, fmt.Errorf("%w, none started from %s: name one with --pid FILE or --control PATH", ErrAmbiguous, dir)
}

// stale says whether the socket at path, named PID.sock, is left by a
// master that is gone: nothing answers on it and no process has its pid.
func stale(path string) bool {
	pid, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".sock"))
	if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
		return false
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}
