// Package launch is the starlight command: it parses the command line,
// picks the dashboard or headless logging, and runs the master.
package launch

import (
	"errors"
	"fmt"
	"os"

	"github.com/charmbracelet/x/term"
	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/cmd/starlight/internal/daemon"
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
	pipe := daemon.FromEnv()
	if pipe != nil {
		cfg.Launcher = pipe
	}
	dashboard := !cfg.Quiet && !cfg.Daemonize && cfg.Workers > 0 && term.IsTerminal(os.Stdin.Fd()) && term.IsTerminal(os.Stdout.Fd()) && inForeground(os.Stdin)
	cfg.CaptureOutput, cfg.ReloadByDefault, cfg.HangupMayBeTerminal = dashboard, dashboard, dashboard

	var dash *tui.Dashboard
	var obs prefork.Observer
	if dashboard {
		dash = tui.New(tui.Options{})
		obs = dash
	}
	report := func(err error) {
		pipe.Failed(err)
		var be *prefork.BuildError
		if errors.As(err, &be) && be.Output != "" {
			fmt.Fprintln(os.Stderr, be.Output)
		}
		fmt.Fprintf(os.Stderr, "starlight: %v\n", err)
	}
	m, err := prefork.New(cfg, obs)
	if err != nil {
		report(err)
		var ue *prefork.UsageError
		if errors.Is(err, prefork.ErrNoApp) || errors.As(err, &ue) {
			return prefork.ExitUsage
		}
		return prefork.ExitFailure
	}
	if cfg.Daemonize && pipe == nil {
		return daemon.Start(args, os.Stderr)
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

// inForeground reports whether this process is in the foreground of the
// terminal f. A background job (`starlight ... &`) runs headless: the
// terminal would answer a dashboard's reads and mode changes with SIGTTIN
// and SIGTTOU, which the master takes as asking for more or fewer
// workers.
func inForeground(f *os.File) bool {
	pgrp, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pgrp == unix.Getpgrp()
}
