package prefork

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/starlight-go/starlight/watcher"
)

// watching says whether the master rebuilds and reloads on file changes:
// with -r or -R, and for a source APP when ReloadByDefault (under the
// dashboard).
func (m *Master) watching() bool {
	if m.cfg.NoReload {
		return false
	}
	return m.cfg.Reload || len(m.cfg.ReloadDirs) > 0 || (m.cfg.ReloadByDefault && m.app.dir != "")
}

// startWatcher watches the app and feeds changes to the loop.
func (m *Master) startWatcher() error {
	opts := watcher.Options{Exts: m.cfg.ReloadExt, Ignore: m.cfg.ReloadIgnore}
	switch {
	case len(m.cfg.ReloadDirs) > 0:
		for _, d := range m.cfg.ReloadDirs {
			abs, err := filepath.Abs(d)
			if err != nil {
				return fmt.Errorf("-R %s: %w", d, err)
			}
			opts.Dirs = append(opts.Dirs, abs)
		}
	case m.app.dir != "":
		opts.Dirs = []string{m.app.dir}
	default:
		opts.Files = []string{m.app.binary}
	}
	w, err := watcher.New(opts)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	m.watcher = w
	go func() {
		for c := range w.Changes() {
			select {
			case m.changec <- c.Paths:
			case <-m.done:
				return
			}
		}
	}()
	go func() {
		for err := range w.Errors() {
			select {
			case m.notec <- fmt.Errorf("watching: %w", err):
			case <-m.done:
				return
			}
		}
	}()
	what := strings.Join(append(opts.Dirs, opts.Files...), ", ")
	m.info("watching %s for changes", what)
	return nil
}

// changed handles a debounced burst of file changes.
func (m *Master) changed(paths []string) {
	var names []string
	for _, p := range paths {
		rel := p
		for _, root := range append([]string{m.app.dir}, m.cfg.ReloadDirs...) {
			if root == "" {
				continue
			}
			if r, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(r, "..") {
				rel = r
				break
			}
		}
		names = append(names, rel)
	}
	why := "changed: " + strings.Join(names, ", ")
	if len(names) > 3 {
		why = fmt.Sprintf("changed: %s and %d more", strings.Join(names[:3], ", "), len(names)-3)
	}
	m.reload(why)
}
