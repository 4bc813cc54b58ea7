// Package tui is the live terminal dashboard that the master runs under in
// development.
//
// It owns everything drawn on the terminal while the server runs: the
// header (app, build, listeners, generation, uptime, worker and request
// counts, requests per second and their recent history), the workers table,
// the events pane, the merged logs of every worker, and the keys that ask
// the master to reload, scale, or stop. When the master has finished it
// restores the terminal and prints the last events as plain lines.
//
// The package reads only prefork's plain data types (Snapshot, Event,
// LogLine, Command) and talks to the master through the small Master
// interface; it knows nothing else about the master. A Dashboard is a
// prefork.Observer: Event and Log queue what they are told in fixed-size
// rings and never block, and the dashboard takes from those rings, together
// with a Snapshot, four times a second. Nothing imports tui but the entry
// points that start a server.
//
// It is built on bubbletea, lipgloss and bubbles: one value model, a View
// that is a pure function of it, and outside data brought in by commands.
// NO_COLOR (or Options.NoColor) turns colour off.
package tui
