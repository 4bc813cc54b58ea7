package tui

import (
	"io"
	"sync"
)

// inputWatch notices when the terminal's input fails or ends, which is how
// a dashboard learns that its terminal went away.
type inputWatch struct {
	in   io.Reader
	lost chan struct{} // closed on the first read error, io.EOF included
	once sync.Once
}

func newInputWatch(in io.Reader) *inputWatch {
	return &inputWatch{in: in, lost: make(chan struct{})}
}

func (w *inputWatch) fail() { w.once.Do(func() { close(w.lost) }) }

// failed tells whether the input has failed or ended.
func (w *inputWatch) failed() bool {
	select {
	case <-w.lost:
		return true
	default:
		return false
	}
}

// reader returns the input to give the program. A terminal stays a file
// (with its descriptor) so that the program can still put it in raw mode
// and wait on it without a blocked read left behind.
func (w *inputWatch) reader() io.Reader {
	if f, ok := w.in.(file); ok {
		return watchedFile{file: f, w: w}
	}
	return watchedReader{r: w.in, w: w}
}

// file is what bubbletea and its cancelable reader need of a terminal.
type file interface {
	io.ReadWriteCloser
	Fd() uintptr
	Name() string
}

type watchedFile struct {
	file
	w *inputWatch
}

func (f watchedFile) Read(p []byte) (int, error) {
	n, err := f.file.Read(p)
	if err != nil {
		f.w.fail()
	}
	return n, err
}

type watchedReader struct {
	r io.Reader
	w *inputWatch
}

func (r watchedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.w.fail()
	}
	return n, err
}
