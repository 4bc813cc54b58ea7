// Package launch is the starlight command: it parses the command line,
// picks the dashboard or headless logging, and runs the master.
package launch

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/prefork"
	"github.com/starlight-go/starlight/tui"
)

// Main runs starlight with args (without the program name) and returns
// the exit status.
func Main(args []string) int {
	cfg, err := prefork.ParseArgs(args)
	switch {
	case errors.Is(err, prefork.ErrHelp):
		prefork.PrintUsage(os.Stdout)
		return prefork.ExitOK
	case errors.Is(err, prefork.ErrVersion):
		fmt.Printf("starlight %s\n", prefork.Version)
		return prefork.ExitOK
	case err != nil:
		fmt.Fprintf(os.Stderr, "starlight: %v (see starlight --help)\n", err)
		return prefork.ExitUsage
	}
	cfg.Dashboard = !cfg.Quiet && !cfg.Daemonize && cfg.Workers > 0 && prefork.IsTerminal(os.Stdin) && prefork.IsTerminal(os.Stdout) && inForeground(os.Stdin)

	var dash *tui.Dashboard
	var obs prefork.Observer
	if cfg.Dashboard {
		dash = tui.New(tui.Options{})
		obs = dash
	}
	m, err := prefork.New(cfg, obs)
	if err != nil {
		return fail(err)
	}
	if cfg.Daemonize && !prefork.IsDaemon() {
		return prefork.Daemonize(args, os.Stderr)
	}
	if code, err := m.Start(); err != nil {
		report(err)
		return code
	}
	if dash == nil {
		code, err := m.Serve()
		if err != nil {
			report(err)
		}
		return code
	}

	type result struct {
		code int
		err  error
	}
	served := make(chan result, 1)
	go func() {
		code, err := m.Serve()
		served <- result{code, err}
	}()
	if err := dash.Run(m, m.Done()); err != nil {
		// No terminal after all: carry on headless until stopped.
		fmt.Fprintf(os.Stderr, "starlight: dashboard: %v\n", err)
	}
	r := <-served
	if r.err != nil {
		report(r.err)
	}
	return r.code
}

// fail reports an error found before the master started.
func fail(err error) int {
	report(err)
	var ue *prefork.UsageError
	if errors.Is(err, prefork.ErrNoApp) || errors.As(err, &ue) {
		return prefork.ExitUsage
	}
	return prefork.ExitFailure
}

func report(err error) {
	prefork.DaemonFailed(err)
	var be *prefork.BuildError
	if errors.As(err, &be) && be.Output != "" {
		fmt.Fprintln(os.Stderr, be.Output)
	}
	fmt.Fprintf(os.Stderr, "starlight: %v\n", err)
}

// inForeground reports whether this process is in the foreground of the
// terminal f. A background job (`starlight ... &`) runs headless: the
// terminal would answer a dashboard's reads and mode changes with SIGTTIN
// and SIGTTOU, which the master takes as asking for more or fewer
// workers.
func inForeground(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
