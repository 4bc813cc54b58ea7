// Package launch is the starlight command: it parses the command line,
// picks the dashboard or headless logging, and runs the master.
package launch

import (
	"errors"
	"fmt"
	"os"

	"github.com/starlight-go/starlight/prefork"
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
	m, err := prefork.New(cfg, nil)
	if err != nil {
		return fail(err)
	}
	if cfg.Daemonize && !prefork.IsDaemon() {
		return prefork.Daemonize(args, os.Stderr)
	}
	code, err := m.Run()
	if err != nil {
		report(err)
	}
	return code
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
