package watcher

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	testDebounce = 50 * time.Millisecond
	waitLimit    = 5 * time.Second
)

// start creates a watcher for opts and closes it when the test ends.
func start(t *testing.T, opts Options) *Watcher {
	t.Helper()
	if opts.Debounce == 0 {
		opts.Debounce = testDebounce
	}
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// next waits for the next Change.
func next(t *testing.T, w *Watcher) Change {
	t.Helper()
	select {
	case c, ok := <-w.Changes():
		if !ok {
			t.Fatal("Changes closed")
		}
		return c
	case err := <-w.Errors():
		t.Fatalf("unexpected error: %v", err)
	case <-time.After(waitLimit):
		t.Fatal("no Change within", waitLimit)
	}
	return Change{}
}

// quiet asserts that no Change arrives for a while.
func quiet(t *testing.T, w *Watcher, d time.Duration) {
	t.Helper()
	select {
	case c := <-w.Changes():
		t.Fatalf("unexpected Change: %v", c.Paths)
	case <-time.After(d):
	}
}

func write(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantPaths(t *testing.T, c Change, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(c.Paths, want) {
		t.Fatalf("Change.Paths = %q, want %q", c.Paths, want)
	}
}

func TestEditGoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	main := filepath.Join(dir, "main.go")
	write(t, main, "package main\n")
	w := start(t, Options{Dirs: []string{dir}})

	write(t, main, "package main\n\nfunc main() {}\n")
	wantPaths(t, next(t, w), main)
}

func TestBurstIsOneChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	for i := range 5 {
		files = append(files, filepath.Join(dir, "pkg", fmt.Sprintf("f%d.go", i)))
		write(t, files[i], "package pkg\n")
	}
	w := start(t, Options{Dirs: []string{dir}, Debounce: DefaultDebounce})

	for i := range 20 {
		write(t, files[i%len(files)], fmt.Sprintf("package pkg\n// %d\n", i))
	}
	wantPaths(t, next(t, w), files...)
	quiet(t, w, 3*DefaultDebounce)
}

func TestFormatterRewrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var files []string
	for i := range 50 {
		files = append(files, filepath.Join(dir, fmt.Sprintf("d%d", i%5), fmt.Sprintf("f%d.go", i)))
		write(t, files[i], "package p\n")
	}
	w := start(t, Options{Dirs: []string{dir}})

	for _, f := range files {
		write(t, f, "package p\n\n")
	}
	wantPaths(t, next(t, w), files...)
	quiet(t, w, 3*testDebounce)
}

func TestContinuousWritesAreReported(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := filepath.Join(dir, "busy.go")
	write(t, f, "package p\n")
	w := start(t, Options{Dirs: []string{dir}})

	// Keep writing more often than the debounce period: the burst never
	// goes quiet, yet it must be reported after maxDelay.
	stop := make(chan struct{})
	done := make(chan struct{})
	defer func() { close(stop); <-done }()
	go func() {
		defer close(done)
		tick := time.NewTicker(testDebounce / 5)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				os.WriteFile(f, []byte("package p\n"), 0o644)
			}
		}
	}()
	begin := time.Now()
	wantPaths(t, next(t, w), f)
	if d := time.Since(begin); d > maxDelay+time.Second {
		t.Fatalf("Change after %v, want at most about %v", d, maxDelay)
	}
}

func TestIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, d := range []string{".git", "vendor", "starlight-build-1", "node_modules", "_old"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := start(t, Options{Dirs: []string{dir}, Ignore: []string{"gen", "skip/*.go"}})

	for _, name := range []string{
		".git/x",
		".git/HEAD.go",
		"foo_test.go",
		"foo.go~",
		".foo.swp",
		"foo.go.swp",
		"foo.go.tmp",
		"#foo.go#",
		".#foo.go",
		"4913",
		"foo.go___jb_tmp___",
		"vendor/x.go",
		"node_modules/x.go",
		"_old/x.go",
		"testdata/x.go",
		"tmp/x.go",
		"starlight-build-1/app",
		"starlight-build-2/sub/x.go",
		"README.md",
		"gen/x.go",
		"skip/x.go",
	} {
		write(t, filepath.Join(dir, name), "package x\n")
	}
	quiet(t, w, 3*testDebounce)

	// Nothing ignored was held back: the next Change names only this file.
	sentinel := filepath.Join(dir, "main.go")
	write(t, sentinel, "package main\n")
	wantPaths(t, next(t, w), sentinel)
}

func TestEmbed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.go"), "package main\n\nimport \"embed\"\n\n//go:embed static\nvar static embed.FS\n")
	index := filepath.Join(dir, "static", "index.html")
	write(t, index, "<p>hi</p>")
	w := start(t, Options{Dirs: []string{dir}})

	write(t, index, "<p>hello</p>")
	wantPaths(t, next(t, w), index)

	// A pattern added while running counts from then on.
	tmpl := filepath.Join(dir, "web", "tmpl.go")
	write(t, tmpl, "package web\n\nimport _ \"embed\"\n\n//go:embed \"page.html\" *.txt\nvar page string\n")
	wantPaths(t, next(t, w), tmpl)
	page := filepath.Join(dir, "web", "page.html")
	other := filepath.Join(dir, "web", "other.html")
	write(t, other, "not embedded")
	write(t, page, "<p>page</p>")
	wantPaths(t, next(t, w), page)
}

func TestExplicitExts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "main.go"), "package main\n\n//go:embed static\nvar s string\n")
	w := start(t, Options{Dirs: []string{dir}, Exts: []string{".tmpl", "Makefile"}})

	write(t, filepath.Join(dir, "main.go"), "package main\n")
	write(t, filepath.Join(dir, "static", "x.html"), "x")
	tmpl := filepath.Join(dir, "a.tmpl")
	mk := filepath.Join(dir, "Makefile")
	write(t, tmpl, "x")
	write(t, mk, "all:\n")
	wantPaths(t, next(t, w), mk, tmpl)
}

func TestNewDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := start(t, Options{Dirs: []string{dir}})

	f := filepath.Join(dir, "sub", "deeper", "x.go")
	write(t, f, "package deeper\n") // MkdirAll, then write at once
	wantPaths(t, next(t, w), f)

	// The new directory is watched.
	write(t, f, "package deeper\n\n")
	wantPaths(t, next(t, w), f)
}

func TestSaveByRename(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	x := filepath.Join(dir, "x.go")
	write(t, x, "package x\n")
	w := start(t, Options{Dirs: []string{dir}})

	tmp := filepath.Join(dir, "x.go.tmp")
	write(t, tmp, "package x\n\nvar v int\n")
	if err := os.Rename(tmp, x); err != nil {
		t.Fatal(err)
	}
	wantPaths(t, next(t, w), x)
}

func TestRemoveDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, "sub")
	x := filepath.Join(sub, "inner", "x.go")
	write(t, x, "package inner\n")
	write(t, filepath.Join(sub, "notes.txt"), "x")
	w := start(t, Options{Dirs: []string{dir}})

	if err := os.RemoveAll(sub); err != nil {
		t.Fatal(err)
	}
	wantPaths(t, next(t, w), x)
}

func TestRenameDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old := filepath.Join(dir, "old")
	write(t, filepath.Join(old, "sub", "x.go"), "package sub\n")
	w := start(t, Options{Dirs: []string{dir}})

	renamed := filepath.Join(dir, "new")
	if err := os.Rename(old, renamed); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(renamed, "sub", "x.go")
	wantPaths(t, next(t, w), filepath.Join(old, "sub", "x.go"), x)

	// The moved tree is watched under its new name.
	write(t, x, "package sub\n\n")
	wantPaths(t, next(t, w), x)
}

func TestFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "starlight-build-1")
	app := filepath.Join(bin, "app")
	write(t, app, "old")
	w := start(t, Options{Files: []string{app}})

	write(t, filepath.Join(bin, "other"), "ignored")
	tmp := filepath.Join(bin, "app.new")
	write(t, tmp, "new")
	if err := os.Rename(tmp, app); err != nil {
		t.Fatal(err)
	}
	wantPaths(t, next(t, w), app)
}

// TestClose is not parallel so that it can count goroutines.
func TestClose(t *testing.T) {
	before := runtime.NumGoroutine()
	w, err := New(Options{Dirs: []string{t.TempDir()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case _, ok := <-w.Changes():
		if ok {
			t.Fatal("Changes delivered a value after Close")
		}
	case <-time.After(waitLimit):
		t.Fatal("Changes not closed")
	}
	// Goroutines that have finished their work may take a moment to exit.
	deadline := time.Now().Add(waitLimit)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before New", n, before)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing")
	for _, opts := range []Options{
		{Dirs: []string{missing}},
		{Files: []string{filepath.Join(missing, "app")}},
	} {
		w, err := New(opts)
		if err == nil {
			w.Close()
			t.Fatalf("New(%+v) succeeded", opts)
		}
		if !strings.Contains(err.Error(), missing) {
			t.Errorf("error %q does not name %s", err, missing)
		}
	}
}

func TestWatchLimitError(t *testing.T) {
	err := watchError("/src/app", syscall.ENOSPC)
	for _, want := range []string{"/src/app", "/proc/sys/fs/inotify/max_user_watches"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestIgnoredRules(t *testing.T) {
	patterns := []string{"gen", "cmd/*/local.go"}
	for _, tt := range []struct {
		rel   string
		isDir bool
		want  bool
	}{
		{"main.go", false, false},
		{"pkg/a/b.go", false, false},
		{"go.mod", false, false},
		{".git", true, true},
		{".git/config", false, true},
		{"a/.idea/x.go", false, true},
		{"x_test.go", false, true},
		{"x.go~", false, true},
		{".x.go.swp", false, true},
		{"x.swx", false, true},
		{"x.tmp", false, true},
		{"#x.go#", false, true},
		{"4913", false, true},
		{"x.go___jb_old___", false, true},
		{"x.go.___jb_tmp___", false, true},
		{"vendor", true, true},
		{"vendor/a/b.go", false, true},
		{"node_modules/a.go", false, true},
		{"pkg/testdata/a.go", false, true},
		{"tmp/a.go", false, true},
		{"_build", true, true},
		{"_build/a.go", false, true},
		{"_embedded.txt", false, false},
		{"starlight-build-42/app", false, true},
		{"starlight-build", true, true},
		{"gen", true, true},
		{"gen/a.go", false, true},
		{"cmd/tool/local.go", false, true},
		{"cmd/tool/main.go", false, false},
	} {
		if got := ignored(tt.rel, tt.isDir, patterns); got != tt.want {
			t.Errorf("ignored(%q, %v) = %v, want %v", tt.rel, tt.isDir, got, tt.want)
		}
	}
}

func TestParseEmbedLine(t *testing.T) {
	for _, tt := range []struct {
		line string
		want []string
	}{
		{"//go:embed static", []string{"static"}},
		{"  //go:embed a.txt  b/*.html", []string{"a.txt", "b/*.html"}},
		{"//go:embed \"with space.txt\" `raw.txt` all:assets", []string{"with space.txt", "raw.txt", "assets"}},
		{"//go:embedded x", nil},
		{"// go:embed x", nil},
		{"var x = 1", nil},
	} {
		if got := parseEmbedLine(tt.line); !slices.Equal(got, tt.want) {
			t.Errorf("parseEmbedLine(%q) = %q, want %q", tt.line, got, tt.want)
		}
	}
}

func TestMatchEmbed(t *testing.T) {
	for _, tt := range []struct {
		pat, file string
		want      bool
	}{
		{"static", "/app/static/index.html", true},
		{"static", "/app/static/css/site.css", true},
		{"static/*.html", "/app/static/index.html", true},
		{"static/*.html", "/app/static/site.css", false},
		{"*.txt", "/app/a.txt", true},
		{"*.txt", "/app/sub/a.txt", false},
		{"static", "/app/staticx/a", false},
		{"static", "/other/static/a", false},
	} {
		if got := matchEmbed("/app", tt.pat, tt.file); got != tt.want {
			t.Errorf("matchEmbed(%q, %q) = %v, want %v", tt.pat, tt.file, got, tt.want)
		}
	}
}
