package prefork

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// OptionError is an option whose value turns out to be of no use when the
// master starts (a log file it cannot open, a certificate that is no
// certificate): the command exits 2, as for a bad command line.
type OptionError struct{ err error }

func (e *OptionError) Error() string { return e.err.Error() }
func (e *OptionError) Unwrap() error { return e.err }

// ErrNoApp is returned when no APP was named and "." is no main package.
var ErrNoApp = errors.New("no APP given and . is not a Go main package; name one: starlight ./demo")

// app is what the workers run: a Go main package built by the master, or
// an executable built elsewhere.
type app struct {
	name   string // as the user gave it
	dir    string // absolute source directory; "" for an executable
	binary string // absolute path of the executable to run
}

// resolveApp finds APP: a directory holding a Go main package, or an
// executable file.
func resolveApp(name string) (*app, error) {
	if name == "" {
		if isMainPackage(".") {
			name = "."
		} else {
			return nil, ErrNoApp
		}
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("app %s: no such file or directory", name)
		}
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	if st.IsDir() {
		if !isMainPackage(abs) {
			return nil, fmt.Errorf("app %s: not a Go main package (no .go file with package main)", name)
		}
		return &app{name: name, dir: abs}, nil
	}
	if st.Mode()&0o111 == 0 {
		return nil, fmt.Errorf("app %s: not executable", name)
	}
	return &app{name: name, binary: abs}, nil
}

func isMainPackage(dir string) bool {
	p, err := build.ImportDir(dir, 0)
	return err == nil && p.Name == "main"
}

// BuildError is a failed go build; Output holds what the compiler said.
type BuildError struct {
	Dir    string
	Output string
	Err    error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("build %s: %v", e.Dir, e.Err)
}

func (e *BuildError) Unwrap() error { return e.Err }

// buildApp runs go build for a into out. ctx cancels a build that a newer
// change made stale, or a stop.
//
// start starts the command (the spawner's, in the master): go build gets
// SIGKILL if the master dies (SIGKILL) meanwhile, rather than building on
// for nobody.
func buildApp(ctx context.Context, a *app, out string, start func(*exec.Cmd) error) error {
	// go build's own temporary directory goes beside out and is removed
	// when the build ends: a build cut short by SIGINT leaves it behind
	// (go build does not clean up on a signal).
	work, err := os.MkdirTemp(filepath.Dir(out), "go-tmp-")
	if err != nil {
		return &BuildError{Dir: a.name, Err: err}
	}
	defer os.RemoveAll(work)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = a.dir
	cmd.Env = append(os.Environ(), "GOTMPDIR="+work)
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	cmd.Cancel = func() error { return signalTree(cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 5 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, exec.ErrNotFound) {
			return &BuildError{Dir: a.name, Err: errors.New("the go command is not on PATH")}
		}
		return &BuildError{Dir: a.name, Output: strings.TrimRight(buf.String(), "\n"), Err: err}
	}
	return nil
}
