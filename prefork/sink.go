package prefork

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/starlight-go/starlight/internal/logfile"
	"golang.org/x/sys/unix"
)

// sink is a destination for log lines that several goroutines write to:
// one write per batch of whole lines, under a lock, so lines from
// different workers never interleave. A file sink can be reopened
// (SIGUSR1, after logrotate moved it).
type sink struct {
	mu    sync.Mutex
	w     io.Writer
	f     *os.File // non-nil when the sink owns a file
	path  string
	owner int      // whose file path may be besides root's (openSink)
	tty   *os.File // w, when it is a terminal

	// With a queue (background), writes are handed to a goroutine of the
	// sink's own; see background.
	q       chan sinkEntry
	queued  atomic.Int64 // bytes in q
	dropped atomic.Int64
}

type sinkEntry struct {
	b     []byte
	flush chan struct{} // closed once the writes queued before it are done
	swap  *os.File      // reopen: the file to write to from here on
}

// The writes waiting for a slow destination: at most sinkQueueLen, and
// sinkQueueBytes in all.
const (
	sinkQueueLen   = 4096
	sinkQueueBytes = 4 << 20
)

// openSink opens a log file (see logfile.Open), which may belong to root
// or to owner, the user files are handed to (-1: this process's).
func openSink(path string, owner int) (*sink, error) {
	f, err := logfile.Open(path, owner)
	if err != nil {
		return nil, err
	}
	return &sink{w: f, f: f, path: path, owner: owner}, nil
}

// fileSink writes to f, which the sink does not own.
func fileSink(f *os.File) *sink {
	s := &sink{w: f}
	if isTerminal(f) {
		s.tty = f
	}
	return s
}

func (s *sink) Write(p []byte) (int, error) {
	if s.q == nil {
		return s.write(p)
	}
	if s.queued.Add(int64(len(p))) > sinkQueueBytes {
		s.queued.Add(-int64(len(p)))
		s.dropped.Add(1)
		return len(p), nil
	}
	select {
	case s.q <- sinkEntry{b: bytes.Clone(p)}:
	default:
		s.queued.Add(-int64(len(p)))
		s.dropped.Add(1)
	}
	return len(p), nil
}

func (s *sink) write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tty != nil && !mayWriteTerminal(int(s.tty.Fd())) {
		return len(p), nil
	}
	return s.w.Write(p)
}

// background makes the sink write from a goroutine of its own, so that a
// destination that does not keep up (a stalled reader of the pipe on
// stderr, a log shipper that stopped reading) never blocks a writer: not
// the master's loop, which goes on handling signals and workers, nor the
// workers, whose output the master reads. What comes beyond the queue's
// room is dropped and counted, and the count is written once the
// destination takes writes again.
func (s *sink) background() {
	if s == nil || s.q != nil {
		return
	}
	s.q = make(chan sinkEntry, sinkQueueLen)
	go func() {
		for e := range s.q {
			if n := s.dropped.Swap(0); n > 0 {
				s.write(fmt.Appendf(nil, "%s starlight: %d writes to this log dropped: it did not keep up\n", stamp(time.Now()), n))
			}
			switch {
			case e.flush != nil:
				close(e.flush)
			case e.swap != nil:
				s.swapFile(e.swap)
			default:
				s.write(e.b)
				s.queued.Add(-int64(len(e.b)))
			}
		}
	}()
}

// flush waits until the writes queued so far are done, until deadline at
// most (a destination that stays stalled must not keep the master from
// exiting), and reports whether they were.
func (s *sink) flush(deadline time.Time) bool {
	if s == nil || s.q == nil {
		return true
	}
	done := make(chan struct{})
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case s.q <- sinkEntry{flush: done}:
	case <-t.C:
		return false
	}
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// mayWriteTerminal reports whether this process may write to the terminal
// fd. A background job may not when the terminal has TOSTOP set (`stty
// tostop`): the write would raise SIGTTOU, which the master handles (a
// scale-down), and the kernel would restart the write and raise it again,
// for ever. Those lines are dropped; --error-log keeps them.
func mayWriteTerminal(fd int) bool {
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || pgrp == unix.Getpgrp() {
		return true
	}
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	return err != nil || t.Lflag&unix.TOSTOP == 0
}

// reopen opens the path again and swaps it in; on error the old file
// stays in use. In the background the swap is queued behind the writes
// before it (and never waits for a write that does not end).
func (s *sink) reopen() error {
	if s == nil || s.path == "" {
		return nil
	}
	f, err := logfile.Open(s.path, s.owner)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", s.path, err)
	}
	if s.q == nil {
		s.swapFile(f)
		return nil
	}
	select {
	case s.q <- sinkEntry{swap: f}:
		return nil
	default:
		f.Close()
		return fmt.Errorf("reopen %s: the log is not keeping up: try again", s.path)
	}
}

func (s *sink) swapFile(f *os.File) {
	s.mu.Lock()
	old := s.f
	s.f, s.w = f, f
	s.mu.Unlock()
	old.Close()
}

// maxLine bounds one log line; the rest of a longer line is dropped and
// the line marked as cut.
const maxLine = 1 << 20

var cutMark = []byte(" [line cut at 1 MiB]\n")

// pump reads a worker's pipe to EOF. Whole lines go to the sink (if any)
// in batches, each batch in one write, so lines from different workers
// never interleave; one by one to each (if any); and each batch to tap (if
// any). A line is passed on only once complete (or at EOF); past maxLine
// it is cut.
func pump(r io.ReadCloser, to *sink, each func(line string), tap func([]byte)) {
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	buf := make([]byte, 0, 64<<10)
	cutting := false // dropping the rest of an over-long line
	for {
		chunk, err := br.ReadSlice('\n')
		partial := err == bufio.ErrBufferFull
		if partial {
			err = nil
		}
		switch {
		case cutting:
			if !partial {
				cutting = false // the over-long line ends here
			}
		case lineLen(buf)+len(bytes.TrimSuffix(chunk, []byte{'\n'})) > maxLine:
			buf = append(buf, chunk[:maxLine-lineLen(buf)]...)
			buf = append(buf, cutMark...)
			cutting = partial // more of this line is still to come
		default:
			buf = append(buf, chunk...)
		}
		if partial && !cutting && lineLen(buf) > 0 {
			continue // wait for the end of the line
		}
		// Gather further complete lines already buffered, to write once.
		if err == nil && len(buf) < 32<<10 {
			if more, _ := br.Peek(br.Buffered()); bytes.IndexByte(more, '\n') >= 0 {
				continue
			}
		}
		if len(buf) > 0 {
			if to != nil {
				to.Write(buf)
			}
			if tap != nil {
				tap(buf)
			}
			if each != nil {
				for _, l := range bytes.SplitAfter(buf, []byte{'\n'}) {
					if len(l) > 0 {
						each(string(bytes.TrimRight(l, "\r\n")))
					}
				}
			}
			buf = buf[:0]
		}
		if err != nil {
			return
		}
	}
}

// lineLen is the length of the unfinished last line in buf.
func lineLen(buf []byte) int {
	return len(buf) - (bytes.LastIndexByte(buf, '\n') + 1)
}

// stamp formats the time at the start of the master's own log lines.
func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05.000") }
