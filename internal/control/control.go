// Package control is the wire protocol of a starlight master's control
// socket, shared by the master (the server) and the starlight status,
// attach and ctl commands (the clients).
//
// A connection carries frames: one JSON object per line, at most
// MaxFrame bytes. Each side's first frame is a Hello that states its
// protocol version; a server speaking another version answers with a
// Hello whose Error says so and closes, so that a client of another
// release reports a clear error, never garbage. Then the client sends
// Requests and the server sends Messages: a reply to each request, and
// after a "watch" request the pool's events, log lines and snapshots as
// they come.
//
// The payloads are the plain data of package status. The package imports
// nothing of the master.
package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/starlight-go/starlight/status"
)

// Protocol names the protocol in a Hello.
const Protocol = "starlight-control"

// Version is the protocol version this build speaks. A change that an
// older peer would misread raises it.
const Version = 1

// MaxFrame bounds one frame, the newline included. A peer sending a
// longer one is disconnected.
const MaxFrame = 1 << 20

// Errors of a frame reader.
var (
	ErrFrameTooLarge = errors.New("control: frame larger than 1 MiB")
	ErrBadFrame      = errors.New("control: frame is not a JSON object")
)

// Hello is the first frame each way.
type Hello struct {
	Protocol  string `json:"protocol"`            // Protocol
	Version   int    `json:"version"`             // Version
	Starlight string `json:"starlight,omitempty"` // the release of the sender
	// The server's, in its answer.
	PID   int    `json:"pid,omitempty"`   // the master's pid
	Dir   string `json:"dir,omitempty"`   // the directory it was started from
	App   string `json:"app,omitempty"`   // APP as named on its command line
	Error string `json:"error,omitempty"` // why the server refuses the connection
}

// Request ops.
const (
	OpSnapshot = "snapshot" // reply: a snapshot message
	OpCommand  = "command"  // reply: a done message once the master has acted
	OpWatch    = "watch"    // reply: the history, then events, logs and snapshots as they come
)

// Request is a client's frame after the Hello.
type Request struct {
	Op      string          `json:"op"`
	ID      int             `json:"id,omitempty"` // echoed in the reply
	Command *status.Command `json:"command,omitempty"`
	// History asks a watch for the events and log lines the master
	// still holds.
	History bool `json:"history,omitempty"`
}

// Message types.
const (
	MsgSnapshot = "snapshot"
	MsgEvent    = "event"
	MsgLog      = "log"
	MsgDone     = "done"  // a command has been acted on: Done
	MsgError    = "error" // a request was refused: Error
	// MsgHistoryEnd follows the history a watch asked for: what comes
	// after happened after the client attached.
	MsgHistoryEnd = "history-end"
)

// Message is a server's frame after the Hello.
type Message struct {
	Type     string           `json:"type"`
	ID       int              `json:"id,omitempty"`
	Snapshot *status.Snapshot `json:"snapshot,omitempty"`
	Event    *status.Event    `json:"event,omitempty"`
	Log      *status.LogLine  `json:"log,omitempty"`
	Done     *Done            `json:"done,omitempty"`
	Error    string           `json:"error,omitempty"`
}

// Done is what a command did: the events the master reported while it
// acted on it, and the pool's target and generation after.
type Done struct {
	Events     []status.Event `json:"events,omitempty"`
	Target     int            `json:"target"`
	Generation int            `json:"generation"`
}

// Writer writes frames. It is not safe for concurrent use.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write sends v as one frame.
func (w *Writer) Write(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("control: encode: %w", err)
	}
	if len(b)+1 > MaxFrame {
		return ErrFrameTooLarge
	}
	w.buf = append(append(w.buf[:0], b...), '\n')
	_, err = w.w.Write(w.buf)
	return err
}

// Reader reads frames. It is not safe for concurrent use.
type Reader struct {
	br *bufio.Reader
}

// NewReader returns a Reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 64<<10)} }

// Next returns the next frame, without its newline. A frame longer than
// MaxFrame is ErrFrameTooLarge: the reader stops there, since what follows
// cannot be told from the frame's rest.
func (r *Reader) Next() ([]byte, error) {
	var frame []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(frame)+len(chunk) > MaxFrame {
			return nil, ErrFrameTooLarge
		}
		switch {
		case err == nil:
			if frame == nil {
				return bytes.TrimSuffix(chunk, []byte{'\n'}), nil
			}
			return bytes.TrimSuffix(append(frame, chunk...), []byte{'\n'}), nil
		case errors.Is(err, bufio.ErrBufferFull):
			frame = append(frame, chunk...)
		case errors.Is(err, io.EOF) && len(frame)+len(chunk) > 0:
			return nil, io.ErrUnexpectedEOF
		default:
			return nil, err
		}
	}
}

// Read decodes the next frame into v, which must be a pointer to a struct.
func (r *Reader) Read(v any) error {
	b, err := r.Next()
	if err != nil {
		return err
	}
	return Decode(b, v)
}

// Decode decodes one frame into v. Anything but a JSON object is
// ErrBadFrame.
func Decode(b []byte, v any) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return ErrBadFrame
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	return nil
}

// CheckHello says what is wrong with a peer's Hello, or nil.
func CheckHello(h Hello, peer string) error {
	if h.Protocol != Protocol {
		return fmt.Errorf("the %s does not speak the starlight control protocol", peer)
	}
	if h.Version != Version {
		rel := ""
		if h.Starlight != "" {
			rel = " (starlight " + h.Starlight + ")"
		}
		return fmt.Errorf("the %s speaks control protocol version %d%s, this starlight speaks version %d: use the starlight of the same release", peer, h.Version, rel, Version)
	}
	return nil
}
