package watcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultExts are the names that count when Options.Exts is nil. Files
// matched by the //go:embed patterns of the watched Go files count too.
var DefaultExts = []string{".go", "go.mod", "go.sum"}

// DefaultDebounce is the quiet period used when Options.Debounce is 0.
const DefaultDebounce = 100 * time.Millisecond

// maxDelay bounds how long a burst of events is held back: continuous
// writes are still reported this long after the first one.
const maxDelay = 2 * time.Second

// Options configures a Watcher.
type Options struct {
	// Dirs are roots watched recursively; directories created later are
	// watched too.
	Dirs []string
	// Files are single files to watch, such as an executable replaced by a
	// rebuild elsewhere. Their parent directory is watched and only
	// creating, writing or renaming onto the named file is reported. The
	// ignore rules do not apply to them.
	Files []string
	// Exts are the names that count: entries beginning with "." are
	// extensions (".go"), others exact base names ("go.mod"). nil means
	// DefaultExts plus whatever the //go:embed patterns of the watched
	// non-test Go files match.
	Exts []string
	// Ignore are extra ignore patterns, matched with filepath.Match against
	// each base name, or against the slash-separated path relative to the
	// root when the pattern contains '/'.
	Ignore []string
	// Debounce is the quiet period before a burst is reported; 0 means
	// DefaultDebounce. A burst is never held back longer than 2s (or
	// Debounce, if that is longer).
	Debounce time.Duration
}

// Change reports one debounced burst of changes.
type Change struct {
	Paths []string // changed paths, sorted, deduplicated, absolute
}

// Watcher watches source trees and reports changes on Changes.
type Watcher struct {
	fsw     *fsnotify.Watcher
	changes chan Change
	errors  chan error
	done    chan struct{} // closed by Close
	stopped chan struct{} // closed when run returns

	closeOnce sync.Once
	closeErr  error

	// Everything below is set up by New and afterwards owned by run.
	roots    []string            // absolute, clean
	files    map[string]bool     // Options.Files, absolute
	exts     []string            // names that count
	embed    bool                // whether //go:embed patterns count
	ignore   []string            // Options.Ignore
	debounce time.Duration       // quiet period
	limit    time.Duration       // longest delay of a burst
	dirs     map[string]bool     // directories watched under roots
	seen     map[string]bool     // files seen under roots, not ignored
	embeds   map[string][]string // Go file -> its //go:embed patterns
	pending  map[string]bool     // paths of the current burst
}

// New starts watching. Errors name the path that could not be watched.
func New(opts Options) (*Watcher, error) {
	w := &Watcher{
		changes:  make(chan Change),
		errors:   make(chan error, 16),
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
		files:    make(map[string]bool),
		exts:     slices.Clone(opts.Exts),
		embed:    opts.Exts == nil,
		ignore:   slices.Clone(opts.Ignore),
		debounce: opts.Debounce,
		dirs:     make(map[string]bool),
		seen:     make(map[string]bool),
		embeds:   make(map[string][]string),
		pending:  make(map[string]bool),
	}
	if w.embed {
		w.exts = slices.Clone(DefaultExts)
	}
	if w.debounce <= 0 {
		w.debounce = DefaultDebounce
	}
	w.limit = max(maxDelay, w.debounce)
	for _, p := range w.ignore {
		if _, err := filepath.Match(p, ""); err != nil {
			return nil, fmt.Errorf("ignore pattern %q: %w", p, err)
		}
	}

	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watcher: %w", err)
	}
	w.fsw = fsw
	if err := w.setup(opts); err != nil {
		fsw.Close()
		return nil, err
	}
	go w.run()
	return w, nil
}

// setup adds the initial watches.
func (w *Watcher) setup(opts Options) error {
	for _, d := range opts.Dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("watch %s: %w", d, err)
		}
		w.roots = append(w.roots, abs)
	}
	for _, f := range opts.Files {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("watch %s: %w", f, err)
		}
		w.files[abs] = true
		dir := filepath.Dir(abs)
		if err := w.fsw.Add(dir); err != nil {
			return watchError(dir, err)
		}
	}
	for _, root := range w.roots {
		fi, err := os.Stat(root)
		if err != nil {
			return fmt.Errorf("watch %s: %w", root, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("watch %s: not a directory", root)
		}
		if _, err := w.addTree(root, true); err != nil {
			return err
		}
	}
	return nil
}

// Changes delivers one Change per debounced burst. Bursts that end while
// a Change is still waiting to be received are merged into it. Changes is
// closed by Close.
func (w *Watcher) Changes() <-chan Change { return w.changes }

// Errors delivers non-fatal errors. It is buffered; errors are dropped when
// nobody reads them. It is closed by Close.
func (w *Watcher) Errors() <-chan error { return w.errors }

// Close stops the watcher and closes Changes and Errors. When it returns no
// goroutine of the watcher is left. It may be called more than once.
func (w *Watcher) Close() error {
	w.closeOnce.Do(func() {
		close(w.done)
		w.closeErr = w.fsw.Close()
		<-w.stopped
	})
	return w.closeErr
}

// run owns the watcher's state: it reads the fsnotify events, debounces
// them and delivers the Changes.
func (w *Watcher) run() {
	defer close(w.stopped)
	defer close(w.errors)
	defer close(w.changes)

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	var (
		first time.Time       // first event of the current burst; zero if none
		ready map[string]bool // paths of finished bursts not yet delivered
		out   chan<- Change   // w.changes while a Change is ready, else nil
		next  Change          // the Change to deliver
	)
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if !w.handle(ev) {
				continue
			}
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			timer.Reset(max(0, min(w.debounce, first.Add(w.limit).Sub(now))))
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.report(err)
			if errors.Is(err, fsnotify.ErrEventOverflow) && w.rescan() && first.IsZero() {
				first = time.Now()
				timer.Reset(w.debounce)
			}
		case <-timer.C:
			// The burst is over. If the previous Change has not been
			// taken yet, merge into it rather than queueing another.
			if ready == nil {
				ready = make(map[string]bool)
			}
			for p := range w.pending {
				ready[p] = true
			}
			clear(w.pending)
			first = time.Time{}
			if len(ready) > 0 {
				out, next = w.changes, Change{Paths: sorted(ready)}
			}
		case out <- next:
			out, next, ready = nil, Change{}, nil
		}
	}
}

// handle processes one event and reports whether it was relevant.
func (w *Watcher) handle(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Clean(ev.Name)
	hit := false
	if w.files[name] && ev.Has(fsnotify.Create|fsnotify.Write) {
		w.pending[name] = true
		hit = true
	}
	switch {
	case ev.Has(fsnotify.Create):
		if fi, err := os.Lstat(name); err == nil && fi.IsDir() {
			if w.inScope(name, true) {
				// Files may have been written before the watch was in
				// place: count them all.
				found, _ := w.addTree(name, false)
				for _, f := range found {
					w.pending[f] = true
					hit = true
				}
			}
			return hit
		}
		return w.fileChanged(name) || hit
	case ev.Has(fsnotify.Write):
		return w.fileChanged(name) || hit
	case ev.Has(fsnotify.Remove | fsnotify.Rename):
		if w.dirs[name] {
			return w.dirGone(name) || hit
		}
		return w.fileGone(name) || hit
	}
	return hit
}

// fileChanged records a created or written file and reports whether it
// counts.
func (w *Watcher) fileChanged(name string) bool {
	if !w.inScope(name, false) {
		return false
	}
	w.seen[name] = true
	w.readEmbeds(name)
	if !w.counts(name) {
		return false
	}
	w.pending[name] = true
	return true
}

// fileGone forgets a removed or renamed file and reports whether it
// counted.
func (w *Watcher) fileGone(name string) bool {
	if !w.inScope(name, false) {
		return false
	}
	hit := w.counts(name)
	if hit {
		w.pending[name] = true
	}
	delete(w.seen, name)
	delete(w.embeds, name)
	return hit
}

// dirGone forgets a removed or renamed directory and everything under it,
// and reports whether any file that counted was in it.
func (w *Watcher) dirGone(dir string) bool {
	hit := false
	for f := range w.seen {
		if _, ok := within(dir, f); ok && w.counts(f) {
			w.pending[f] = true
			hit = true
		}
	}
	for f := range w.seen {
		if _, ok := within(dir, f); ok {
			delete(w.seen, f)
			delete(w.embeds, f)
		}
	}
	for d := range w.dirs {
		if _, ok := within(dir, d); ok {
			delete(w.dirs, d)
			// The watch may already be gone with the directory; a watch
			// left on a renamed directory would report under the old name.
			_ = w.fsw.Remove(d)
		}
	}
	return hit
}

// addTree watches dir and the directories under it that are not ignored,
// and returns the files found under them that count. With strict set (at
// start) the first error is returned; otherwise errors are reported on
// Errors.
func (w *Watcher) addTree(dir string, strict bool) ([]string, error) {
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && (p != dir || !strict) {
				return nil // removed meanwhile
			}
			err = fmt.Errorf("watch %s: %w", p, err)
			if strict {
				return err
			}
			w.report(err)
			return nil
		}
		if d.IsDir() {
			if p != dir && !w.inScope(p, true) {
				return filepath.SkipDir
			}
			if err := w.fsw.Add(p); err != nil {
				if errors.Is(err, fs.ErrNotExist) && (p != dir || !strict) {
					return filepath.SkipDir // removed meanwhile
				}
				err = watchError(p, err)
				if strict {
					return err
				}
				w.report(err)
				return filepath.SkipDir
			}
			w.dirs[p] = true
			return nil
		}
		if w.inScope(p, false) {
			w.seen[p] = true
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Read all patterns first: they may match files found earlier.
	for _, f := range found {
		w.readEmbeds(f)
	}
	return slices.DeleteFunc(found, func(f string) bool { return !w.counts(f) }), nil
}

// rescan re-adds the watches of all roots after the kernel dropped events,
// and marks the roots changed since events may have been lost. It reports
// whether anything was marked.
func (w *Watcher) rescan() bool {
	clear(w.dirs)
	for _, root := range w.roots {
		w.addTree(root, false)
		w.pending[root] = true
	}
	return len(w.roots) > 0
}

// inScope reports whether p lies under a root and is not ignored there.
func (w *Watcher) inScope(p string, isDir bool) bool {
	for _, root := range w.roots {
		if rel, ok := within(root, p); ok && rel != "." && !ignored(rel, isDir, w.ignore) {
			return true
		}
	}
	return false
}

// counts reports whether an in-scope file is one whose change matters.
func (w *Watcher) counts(name string) bool {
	if matchExt(filepath.Base(name), w.exts) {
		return true
	}
	for goFile, pats := range w.embeds {
		dir := filepath.Dir(goFile)
		for _, pat := range pats {
			if matchEmbed(dir, pat, name) {
				return true
			}
		}
	}
	return false
}

// readEmbeds refreshes the //go:embed patterns of name if it is a Go file
// and embedded files count.
func (w *Watcher) readEmbeds(name string) {
	if !w.embed || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
		return
	}
	pats, err := readEmbeds(name)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.report(fmt.Errorf("read %s: %w", name, err))
		}
		delete(w.embeds, name)
		return
	}
	if len(pats) == 0 {
		delete(w.embeds, name)
		return
	}
	w.embeds[name] = pats
}

// report passes a non-fatal error on, dropping it if nobody reads.
func (w *Watcher) report(err error) {
	select {
	case w.errors <- err:
	default:
	}
}

// watchError wraps an error from adding a watch on dir, explaining the
// inotify watch limit when that is what was hit.
func watchError(dir string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("watch %s: %w: inotify watch limit reached; raise /proc/sys/fs/inotify/max_user_watches (sysctl fs.inotify.max_user_watches=524288)", dir, err)
	}
	return fmt.Errorf("watch %s: %w", dir, err)
}

// sorted returns the keys of set in order.
func sorted(set map[string]bool) []string {
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}
