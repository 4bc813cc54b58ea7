// Package remote is the starlight commands that talk to a running master
// over its control socket: status, attach and ctl. They find the master
// from --pid FILE (its FILE.sock), --control PATH, or else the way git
// finds a repository: the server started from the current directory.
package remote

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/starlight-go/starlight/internal/control"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// dialTimeout bounds the connection and the handshake.
const dialTimeout = 5 * time.Second

// Commands lists the subcommands, for the launcher to recognise.
var Commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"status": Status,
	"attach": Attach,
	"ctl":    Ctl,
}

// target is how a command names its server.
type target struct {
	pidFile string
	control string
}

func (t *target) flags(fs *pflag.FlagSet) {
	fs.StringVar(&t.pidFile, "pid", "", "")
	fs.StringVar(&t.control, "control", "", "")
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func newFlags(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	return fs
}

// parse reads a subcommand's flags; -h asks for its usage.
func parse(fs *pflag.FlagSet, args []string) (help bool, err error) {
	fs.BoolVarP(&help, "help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		return false, &usageError{err.Error()}
	}
	return help, nil
}

// path resolves the socket: --control, --pid's FILE.sock, or the server
// started from here.
func (t *target) path() (string, error) {
	switch {
	case t.control != "" && t.pidFile != "":
		return "", &usageError{"--pid and --control name the same thing: give one"}
	case t.control != "":
		return t.control, nil
	case t.pidFile != "":
		p := control.PidFilePath(t.pidFile)
		if _, err := os.Lstat(p); err == nil {
			return p, nil
		}
		// A master started with --control PATH: its pid file still
		// says who it is, and the default place is the next guess.
		b, err := os.ReadFile(t.pidFile)
		if err != nil {
			return "", fmt.Errorf("--pid: %w", err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return "", fmt.Errorf("--pid: %s holds no pid", t.pidFile)
		}
		return control.DefaultPath(os.Geteuid(), pid), nil
	}
	dir, _ := os.Getwd()
	p, seen, err := control.Find(control.Dir(os.Geteuid()), dir, dialTimeout)
	if err != nil {
		var b strings.Builder
		b.WriteString(err.Error())
		for _, s := range seen {
			if s.Err != nil {
				continue
			}
			fmt.Fprintf(&b, "\n  --control %s  pid %d  %s  (from %s)", s.Path, s.Hello.PID, s.Hello.App, s.Hello.Dir)
		}
		return "", errors.New(b.String())
	}
	return p, nil
}

// dial connects to the target's server.
func (t *target) dial() (*control.Client, error) {
	p, err := t.path()
	if err != nil {
		return nil, err
	}
	return control.Dial(p, dialTimeout)
}

// fail reports err and returns its exit status.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "starlight %s: %v\n", cmd, err)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}
