// Package launch is the starlight command: it parses the command line,
// picks the dashboard or headless logging, and runs the master.
package launch

import (
	"errors"
	"fmt"
	"os"

	"github.com/charmbracelet/x/term"
	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/cmd/starlight/internal/cli"
	"github.com/starlight-go/starlight/cmd/starlight/internal/daemon"
	"github.com/starlight-go/starlight/cmd/starlight/internal/remote"
	"github.com/starlight-go/starlight/prefork"
	"github.com/starlight-go/starlight/tui"
)

// Main runs starlight with args (without the program name) and returns
// the exit status.
func Main(args []string) int {
	if len(args) > 0 {
		if run, ok := remote.Commands[args[0]]; ok {
			return run(args[1:], os.Stdout, os.Stderr)
		}
	}
	cfg, err := cli.ParseArgs(args)
	switch {
	case errors.Is(err, cli.ErrHelp):
		cli.PrintUsage(os.Stdout)
		return cli.ExitOK
	case errors.Is(err, cli.ErrVersion):
		fmt.Printf("starlight %s\n", cli.Version)
		return cli.ExitOK
	case err != nil:
		fmt.Fprintf(os.Stderr, "starlight: %v (see starlight --help)\n", err)
		return cli.ExitUsage
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
		return exitStatus(err)
	}
	if cfg.Daemonize && pipe == nil {
		return daemon.Start(args, os.Stderr)
	}
	if err := m.Start(); err != nil {
		report(err)
		return exitStatus(err)
	}
	if dash == nil {
		err := m.Serve()
		if err != nil {
			report(err)
		}
		return exitStatus(err)
	}

	served := make(chan error, 1)
	go func() { served <- m.Serve() }()
	if err := dash.Run(m, m.Done()); err != nil {
		// No terminal after all: carry on headless until stopped.
		fmt.Fprintf(os.Stderr, "starlight: dashboard: %v\n", err)
	}
	if err := <-served; err != nil {
		report(err)
		return exitStatus(err)
	}
	return cli.ExitOK
}

// exitStatus maps what the master returned to the command's exit status,
// in this one place: 0 for a stop asked for, 2 for an option of no use, 1
// for the rest.
func exitStatus(err error) int {
	var stopped *prefork.StoppedError
	var opt *prefork.OptionError
	switch {
	case err == nil, errors.As(err, &stopped):
		return cli.ExitOK
	case errors.Is(err, prefork.ErrNoApp), errors.As(err, &opt):
		return cli.ExitUsage
	}
	return cli.ExitFailure
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
