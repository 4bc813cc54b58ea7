// Package fdlimit raises a process's limit on open files to the most it
// may have, for the master and for the workers alike.
//
// What Go does on its own (Linux, Go 1.19 and later): at start, before any
// of the program's code runs, the syscall package raises the soft
// RLIMIT_NOFILE to one below the hard limit (one below, so that it can
// tell whether someone changed the limit since), and puts the soft limit
// it found back in place for each program it execs. A program that sets
// RLIMIT_NOFILE itself, as Raise does, turns that restoring off: from then
// on its children inherit the limit it set. So a master that raised its
// limit starts workers that already have it, and so do the programs those
// workers start.
//
// A hard limit (ulimit -Hn, systemd's LimitNOFILE=) is what no
// unprivileged process can go past: it is the number a server has to live
// with, and the one the workers' connection limit is worked out from.
package fdlimit

import (
	"fmt"
	"syscall"
)

// Limits are the soft and hard RLIMIT_NOFILE of this process.
type Limits struct {
	Soft, Hard uint64
	// Before is the soft limit Raise found, after Go's own raise at start.
	Before uint64
	// Err is why the soft limit could not be raised, if it could not.
	Err error
}

// Unlimited is a hard limit of RLIM_INFINITY.
const Unlimited = ^uint64(0)

// Raise sets the soft limit on open files to the hard limit, when it is
// below it, and returns the limits in effect.
func Raise() Limits {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return Limits{Err: err}
	}
	l := Limits{Soft: r.Cur, Hard: r.Max, Before: r.Cur}
	if r.Cur >= r.Max {
		return l
	}
	want := r
	want.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		// Go caps its own raise on some systems (a hard limit of
		// RLIM_INFINITY that the kernel does not allow as a soft one):
		// keep what there is.
		l.Err = err
		return l
	}
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil {
		l.Soft, l.Hard = r.Cur, r.Max
	}
	return l
}

// String says the limits in a log line's words.
func (l Limits) String() string {
	if l.Hard == 0 && l.Err != nil {
		return fmt.Sprintf("open files: limit unknown (%v)", l.Err)
	}
	s := fmt.Sprintf("open files: soft limit %s, hard limit %s", count(l.Soft), count(l.Hard))
	switch {
	case l.Err != nil:
		s += fmt.Sprintf(" (the soft limit could not be raised: %v)", l.Err)
	case l.Soft != l.Before:
		s += " (soft limit raised to the hard limit)"
	}
	return s
}

func count(n uint64) string {
	if n == Unlimited {
		return "unlimited"
	}
	return fmt.Sprint(n)
}
