package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/starlight-go/starlight/internal/addr"
	"github.com/starlight-go/starlight/internal/proto"
	"github.com/starlight-go/starlight/prefork"
)

// ErrHelp and ErrVersion are returned by ParseArgs for -h and -v: the
// caller prints Usage or the version and exits 0.
var (
	ErrHelp    = errors.New("help requested")
	ErrVersion = errors.New("version requested")
)

// UsageError is a bad command line: the caller prints it and exits 2.
type UsageError struct{ msg string }

func (e *UsageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &UsageError{msg: fmt.Sprintf(format, a...)}
}

// ParseArgs reads the command line (without the program name) into a
// Config. Both --opt=value and --opt value work.
func ParseArgs(args []string) (prefork.Config, error) {
	c, _, err := parseArgs(args)
	return c, err
}

// parseArgs is ParseArgs, with the flag set it parsed (which says what was
// given, for the fuzz test to spell it back).
func parseArgs(args []string) (prefork.Config, *pflag.FlagSet, error) {
	c := prefork.DefaultConfig()
	fs := pflag.NewFlagSet("starlight", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false

	var help, version bool
	fs.BoolVarP(&help, "help", "h", false, "")
	fs.BoolVarP(&version, "version", "v", false, "")

	for _, g := range groups {
		for _, o := range g.options {
			o.define(fs, &c)
		}
	}

	if err := fs.Parse(args); err != nil {
		return c, fs, &UsageError{msg: cleanFlagError(err)}
	}
	c.AddressGiven = fs.Changed("host") || fs.Changed("port") || fs.Changed("listen") || fs.Changed("socket")
	if (fs.Changed("host") || fs.Changed("port")) && (len(c.Listen) > 0 || c.Socket != "") {
		c.Notes = append(c.Notes, "--host and --port are ignored: --listen or --socket says where to listen")
	}
	if !fs.Changed("env") {
		if v := os.Getenv(proto.EnvEnv); v != "" {
			c.Env = v // as Plack's -E defaults to $PLACK_ENV
		}
	}
	if help {
		return c, fs, ErrHelp
	}
	if version {
		return c, fs, ErrVersion
	}
	if fs.Changed("socket") && c.Socket == "" {
		return c, fs, usageErrorf("--socket: empty path")
	}
	if fs.Changed("control") && c.Control == "" {
		return c, fs, usageErrorf("--control: empty path (none turns the socket off)")
	}
	if fs.Changed("metrics-listen") {
		if _, err := addr.Parse(c.MetricsListen); err != nil || c.MetricsListen == "" {
			if err == nil {
				err = errors.New("empty address")
			}
			return c, fs, usageErrorf("--metrics-listen: %q: %v", c.MetricsListen, err)
		}
	}
	if fs.Changed("host") {
		h, err := addr.CleanHost(c.Host)
		if err != nil {
			return c, fs, usageErrorf("--host: %q: %v", c.Host, err)
		}
		c.Host = h
	}
	if fs.Changed("pid") {
		if err := checkPidPath(c.PidFile); err != nil {
			return c, fs, err
		}
	}
	if fs.Changed("Reload") {
		if err := checkReloadDirs(c.ReloadDirs); err != nil {
			return c, fs, err
		}
	}
	if !c.SSL {
		var given []string
		for _, n := range []string{"ssl-key-file", "ssl-cert-file", "ssl-ca-file", "ssl-client-ca-file", "ssl-verify-mode"} {
			if fs.Changed(n) {
				given = append(given, "--"+n)
			}
		}
		switch len(given) {
		case 0:
		case 1:
			return c, fs, usageErrorf("%s needs --ssl", given[0])
		default:
			return c, fs, usageErrorf("%s and %s need --ssl", strings.Join(given[:len(given)-1], ", "), given[len(given)-1])
		}
	}
	rest := fs.Args()
	dash := fs.ArgsLenAtDash()
	if dash >= 0 {
		c.AppArgs = rest[dash:]
		rest = rest[:dash]
	}
	switch len(rest) {
	case 0:
	case 1:
		c.App = rest[0]
	default:
		return c, fs, usageErrorf("one APP expected, got %d: %s (arguments for the app go after --)", len(rest), strings.Join(rest, " "))
	}
	return c, fs, validate(&c)
}

// validate checks what single options cannot: combinations.
func validate(c *prefork.Config) error {
	if c.MinReqsPerChild > 0 && c.MaxReqsPerChild > 0 && c.MinReqsPerChild > c.MaxReqsPerChild {
		return usageErrorf("--min-reqs-per-child (%d) is above --max-reqs-per-child (%d)", c.MinReqsPerChild, c.MaxReqsPerChild)
	}
	if c.Port == 0 && len(c.Listen) == 0 && c.Socket == "" {
		return usageErrorf("--port 0 and no --listen or --socket: nothing to listen on")
	}
	seen := map[string]string{} // an address, spelt one way → the option that gave it
	given := func(opt, spelt string, a addr.Addr) error {
		key := a.Key()
		if key == "" {
			return nil
		}
		if prev, ok := seen[key]; ok {
			if prev == opt {
				return usageErrorf("%s: %s given twice", opt, spelt)
			}
			return usageErrorf("%s: %s given twice (also as %s)", opt, spelt, prev)
		}
		seen[key] = opt
		return nil
	}
	for _, l := range c.Listen {
		if l == "" {
			return usageErrorf("--listen: empty address")
		}
		a, err := addr.Parse(l)
		if err != nil {
			return usageErrorf("--listen: %q: %v", l, err)
		}
		if err := given("--listen", l, a); err != nil {
			return err
		}
	}
	if c.Socket != "" {
		a, err := addr.ParseUnix(c.Socket)
		if err != nil {
			return usageErrorf("--socket: %q: %v", c.Socket, err)
		}
		if err := given("--socket", c.Socket, a); err != nil {
			return err
		}
	}
	for _, p := range c.ReloadIgnore {
		if _, err := filepath.Match(p, ""); err != nil {
			return usageErrorf("--reload-ignore: %q: %v", p, err)
		}
	}
	if c.NoReload && (c.Reload || len(c.ReloadDirs) > 0) {
		return usageErrorf("--no-reload contradicts -r/--reload and -R/--Reload")
	}
	return nil
}

// checkPidPath checks the path of --pid before anything starts: not empty,
// not a directory or a symbolic link, in a directory that exists.
func checkPidPath(path string) error {
	if path == "" {
		return usageErrorf("--pid: empty path")
	}
	if st, err := os.Lstat(path); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return usageErrorf("--pid: %s: a symbolic link: not followed", path)
	} else if err == nil && st.IsDir() {
		return usageErrorf("--pid: %s is a directory", path)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return usageErrorf("--pid: %s: directory %s does not exist", path, dir)
	case err == nil && !st.IsDir():
		return usageErrorf("--pid: %s: %s is not a directory", path, dir)
	}
	return nil // other errors (permission) are the start's to report
}

// checkReloadDirs checks the directories of -R: each must exist and be a
// directory, or the watcher would fail only once the server has started.
func checkReloadDirs(dirs []string) error {
	if len(dirs) == 0 {
		return usageErrorf("--Reload: empty directory name")
	}
	for _, d := range dirs {
		if d == "" {
			return usageErrorf("--Reload: empty directory name in the list")
		}
		st, err := os.Stat(d)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return usageErrorf("--Reload: %s: no such directory", d)
		case err != nil:
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return usageErrorf("--Reload: %s: %v", d, err)
		case !st.IsDir():
			return usageErrorf("--Reload: %s: not a directory", d)
		}
	}
	return nil
}

// cleanFlagError turns pflag's messages into one line that names the
// option.
func cleanFlagError(err error) string {
	msg := err.Error()
	// invalid argument "abc" for "-p, --port" flag: not a port number
	if rest, ok := strings.CutPrefix(msg, "invalid argument "); ok {
		if i := strings.Index(rest, " for \""); i > 0 {
			val := rest[:i]
			rest = rest[i+len(" for \""):]
			if j := strings.Index(rest, "\" flag: "); j > 0 {
				name := rest[:j]
				if k := strings.LastIndex(name, ", "); k >= 0 {
					name = name[k+2:]
				}
				return fmt.Sprintf("%s: %s: %s", name, rest[j+len("\" flag: "):], val)
			}
		}
	}
	if rest, ok := strings.CutPrefix(msg, "unknown flag: "); ok {
		return "unknown option " + rest
	}
	if rest, ok := strings.CutPrefix(msg, "unknown shorthand flag: "); ok {
		return "unknown option " + rest
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return rest + ": needs a value"
	}
	return msg
}

type portValue struct{ p *int }

func (v *portValue) String() string { return strconv.Itoa(*v.p) }
func (v *portValue) Type() string   { return "port" }
func (v *portValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("not a port number (0-65535)")
	}
	*v.p = n
	return nil
}

type rangeValue struct {
	p        *int
	min, max int
}

func (v *rangeValue) String() string { return strconv.Itoa(*v.p) }
func (v *rangeValue) Type() string   { return "int" }
func (v *rangeValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	if n < v.min || n > v.max {
		return fmt.Errorf("must be between %d and %d", v.min, v.max)
	}
	*v.p = n
	return nil
}

// reqsValue is a request count; "inf" (when allowed) means unlimited.
type reqsValue struct {
	p        *uint64
	infinite bool
}

func (v *reqsValue) String() string {
	if *v.p == 0 {
		return "inf"
	}
	return strconv.FormatUint(*v.p, 10)
}
func (v *reqsValue) Type() string { return "count" }
func (v *reqsValue) Set(s string) error {
	if v.infinite && (s == "inf" || s == "infinity" || s == "unlimited") {
		*v.p = 0
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n == 0 {
		if v.infinite {
			return errors.New(`not a number of requests (a whole number above 0, or "inf")`)
		}
		return errors.New("not a number of requests (a whole number above 0)")
	}
	*v.p = n
	return nil
}

// secondsValue is a duration given in seconds, fractions allowed.
type secondsValue struct {
	p      *time.Duration
	zeroOK bool
}

// String spells the duration exactly, to the nanosecond, as Set reads it.
func (v *secondsValue) String() string {
	s := strconv.FormatInt(int64(*v.p/time.Second), 10)
	if ns := *v.p % time.Second; ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return s
}
func (v *secondsValue) Type() string { return "seconds" }

// Set reads a decimal number of seconds exactly (to the nanosecond, the
// rest dropped), and other spellings of a number (1e3) as the nearest
// nanosecond.
func (v *secondsValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return errors.New("not a number of seconds")
	}
	if f < 0 || (f == 0 && !v.zeroOK) {
		if v.zeroOK {
			return errors.New("must not be negative")
		}
		return errors.New("must be above 0")
	}
	if f > 365*24*3600 {
		return errors.New("more than a year")
	}
	d, err := time.ParseDuration(s + "s")
	if err != nil {
		d = time.Duration(math.Round(f * float64(time.Second)))
	}
	if d == 0 && !v.zeroOK {
		return errors.New("must be above 0 (1 ns at least)")
	}
	*v.p = d
	return nil
}

// workerTimeoutValue is --worker-timeout: seconds, 0 = off, at least 1
// otherwise (a worker stamps its heartbeat twice a second).
type workerTimeoutValue struct{ p *time.Duration }

func (v *workerTimeoutValue) String() string { return (&secondsValue{p: v.p}).String() }
func (v *workerTimeoutValue) Type() string   { return "seconds" }
func (v *workerTimeoutValue) Set(s string) error {
	var d time.Duration
	if err := (&secondsValue{&d, true}).Set(s); err != nil {
		return err
	}
	if d > 0 && d < time.Second {
		return errors.New("must be 0 (off) or at least 1")
	}
	*v.p = d
	return nil
}

// sizeValue is a size in bytes: 512M, 1G, 300000K, 1048576; 0 = none.
type sizeValue struct{ p *uint64 }

func (v *sizeValue) String() string {
	if *v.p == 0 {
		return "0"
	}
	return strconv.FormatUint(*v.p, 10)
}
func (v *sizeValue) Type() string { return "size" }
func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

// parseSize reads 512M, 1G, 1.5G, 300K or a number of bytes (a B after
// the unit, and lower case, are allowed: 512mb).
func parseSize(s string) (uint64, error) {
	bad := errors.New("not a size (e.g. 512M, 1G, or bytes)")
	t := strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "B")
	if t == "" {
		return 0, bad
	}
	unit := uint64(1)
	switch t[len(t)-1] {
	case 'K':
		unit = 1 << 10
	case 'M':
		unit = 1 << 20
	case 'G':
		unit = 1 << 30
	case 'T':
		unit = 1 << 40
	}
	if unit > 1 {
		t = t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || t == "" || t[0] == '+' {
		return 0, bad
	}
	n := f * float64(unit)
	if n >= 1<<62 {
		return 0, errors.New("too large")
	}
	return uint64(n), nil
}

type umaskValue struct{ p *int }

func (v *umaskValue) String() string {
	if *v.p < 0 {
		return ""
	}
	return fmt.Sprintf("%03o", *v.p)
}
func (v *umaskValue) Type() string { return "octal" }
func (v *umaskValue) Set(s string) error {
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil || n > 0o777 {
		return errors.New("not an octal mask (000-777)")
	}
	*v.p = int(n)
	return nil
}
