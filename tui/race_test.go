//go:build race

package tui

// raceEnabled: the race detector slows the code down several times.
const raceEnabled = true
