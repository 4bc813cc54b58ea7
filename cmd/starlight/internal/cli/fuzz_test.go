package cli

import (
	"encoding/csv"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/starlight-go/starlight/prefork"
)

// spellArgs spells a parsed command line back: each option given, once,
// as --name=value (a list option once per item), then APP, then "--" and
// the app's arguments if "--" was given.
func spellArgs(fs *pflag.FlagSet, c prefork.Config) []string {
	var args []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Changed {
			return
		}
		switch v := f.Value.(type) {
		case pflag.SliceValue:
			items := slices.Clone(v.GetSlice())  // GetSlice may hand out the Config's own
			if f.Value.Type() == "stringSlice" { // each value is read as CSV
				for i, s := range items {
					items[i] = csvField(s)
				}
			}
			for _, s := range items {
				args = append(args, "--"+f.Name+"="+s)
			}
			if len(items) == 0 { // given, empty: a list of nothing
				args = append(args, "--"+f.Name+"=")
			}
		default:
			args = append(args, "--"+f.Name+"="+f.Value.String())
		}
	})
	if c.App != "" {
		args = append(args, c.App)
	}
	if c.AppArgs != nil {
		args = append(append(args, "--"), c.AppArgs...)
	}
	return args
}

// csvField spells s as one CSV field.
func csvField(s string) string {
	if s == "" {
		return `""` // not nothing, which is no field at all
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write([]string{s})
	w.Flush()
	return strings.TrimSuffix(b.String(), "\n")
}

// The option parser never panics, and a command line it accepts means the
// same spelt back one option at a time: every accepted input round-trips.
// The fuzzer's input is the command line, its arguments separated by NUL
// (which no argument can hold).
func FuzzParseArgs(f *testing.F) {
	for _, seed := range [][]string{
		{"app"},
		{"-p", "80", "-o", "[::1]", "--workers", "4", "app", "--", "-x", "y"},
		{"-l", "127.0.0.1:0", "-l", "/tmp/a.sock", "-S", "b.sock", "--reuse-port"},
		{"--timeout", "0.123456789", "--keepalive-timeout=1e-3", "--graceful-timeout", "31536000", "--spawn-interval", "0x1p-2"},
		{"--timeout", "0.1251", "--main-process-delay", "31535999.999999999"}, // 125.1 ms, not 125.099999 ms
		{"--timeout", "1e-10"}, // above 0, but less than 1 ns: refused, not taken as 0
		{"--max-reqs-per-child", "inf", "--min-reqs-per-child", "10", "--max-keepalive-reqs", "0"},
		{"--umask", "027", "--user", "nobody", "--group", "nogroup,daemon", "--pid", "/tmp/x.pid", "-q"},
		{"--reload-ext", `go,"a,b",`, "--reload-ignore", "*.tmp", "--reload-ext", "tmpl"},
		{"--error-log", "e.log", "--access-log", "-", "-E", "production", "-D"},
		{"--ssl", "--ssl-key-file", "k", "--ssl-cert-file", "c", "--ssl-verify-mode", "2", "--ssl-ca-file", "ca"},
		{"--worker-timeout", "30", "--max-worker-memory", "512M", "--no-reload"},
		{"--", "--"},
	} {
		f.Add(strings.Join(seed, "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, "\x00")
		}
		c, fs, err := parseArgs(args)
		if err != nil {
			return
		}
		again := spellArgs(fs, c)
		c2, err := ParseArgs(again)
		if err != nil {
			t.Fatalf("%q accepted, but spelt back as %q: %v", args, again, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("%q accepted, but spelt back as %q it means another thing:\n%+v\n%+v", args, again, c, c2)
		}
	})
}

// Seconds are read to the nanosecond as written, not through a float that
// misses it (0.1251 was 125.099999 ms).
func TestSecondsExact(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0.1251": 125100 * time.Microsecond, "0.3": 300 * time.Millisecond, "1.000000001": time.Second + 1,
		"31535999.999999999": 365*24*time.Hour - 1, "1e-3": time.Millisecond, "0x1p-2": 250 * time.Millisecond,
	} {
		var d time.Duration
		if err := (&secondsValue{&d, false}).Set(in); err != nil || d != want {
			t.Errorf("%s seconds: %v, %v; want %v", in, d, err, want)
		}
	}
}
