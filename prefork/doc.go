// Package prefork is the starlight master: its configuration and defaults,
// the listeners, the worker pool (spawn, reap, recycle, respawn with
// backoff, generations and slow restarts), signals, privileges, the pid
// file, systemd integration and live reload. The command line, --help and
// -D are the starlight command's (cmd/starlight/internal/cli and daemon);
// an embedder fills a Config, calls New, Start and Serve, and maps the
// errors they return to what it needs.
//
// A worker is a fresh exec of the app binary with the listeners, the
// scoreboard (internal/scoreboard) and a few pipes as inherited files; the
// spec it serves with travels in the environment (internal/proto). Every
// worker is started from one goroutine locked to its OS thread for the
// master's whole life, so that the parent-death signal means "the master
// died".
//
// To a user interface it offers plain data, the types of package status:
// a Snapshot, a stream of Events and LogLines through an Observer, and
// Commands through Do. It imports no
// UI code; the dashboard (package tui) and the headless log are chosen by
// the launcher (cmd/starlight).
package prefork
