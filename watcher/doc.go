// Package watcher reports changes to an application's source tree.
//
// The master process uses it to decide when to rebuild an application. The
// package owns everything between the file system and that decision:
// recursive directory watches (including directories created later), the
// rules for which names count (Go sources, go.mod, go.sum and files matched
// by //go:embed patterns) and which are ignored (hidden files, vendor,
// editor temporaries, tests, the server's own build output, ...), and the
// debouncing that turns a burst of file system events into a single Change.
//
// It knows nothing about workers, builds or processes: a Change only says
// which paths changed. To keep it that way, this package must not import
// anything from the rest of the module; it depends only on the standard
// library and github.com/fsnotify/fsnotify.
package watcher
