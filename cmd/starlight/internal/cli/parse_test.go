package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/starlight-go/starlight/prefork"
)

func TestParseDefaults(t *testing.T) {
	t.Setenv("STARLIGHT_ENV", "")
	c, err := ParseArgs([]string{"./demo"})
	if err != nil {
		t.Fatal(err)
	}
	if c.App != "./demo" || c.Port != 5000 || c.Workers != 10 || c.MaxReqsPerChild != 1000 ||
		c.Timeout != 300*time.Second || c.KeepaliveTimeout != 2*time.Second || c.MaxKeepaliveReqs != 1 ||
		c.MainProcessDelay != 100*time.Millisecond || c.Env != "development" || c.Umask != -1 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestParseForms(t *testing.T) {
	c, err := ParseArgs([]string{
		"--workers=4", "--max-reqs-per-child", "inf", "--min-reqs-per-child=10",
		"-p", "8080", "-o", "127.0.0.1", "-l", ":9000", "--listen=[::1]:9001",
		"--spawn-interval", "0.25", "--timeout=1.5", "--keepalive-timeout", "0.5",
		"--max-keepalive-reqs=100", "-E", "production", "-q", "--umask", "022",
		"--ipv6=1", "--reuse-port", "--access-log", "-", "app", "--", "--app-flag", "x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Workers != 4 || c.MaxReqsPerChild != 0 || c.MinReqsPerChild != 10 || c.Port != 8080 ||
		c.Host != "127.0.0.1" || strings.Join(c.Listen, " ") != ":9000 [::1]:9001" ||
		c.SpawnInterval != 250*time.Millisecond || c.Timeout != 1500*time.Millisecond ||
		c.MaxKeepaliveReqs != 100 || c.Env != "production" || !c.Quiet || c.Umask != 0o22 ||
		!c.IPv6 || !c.ReusePort || c.AccessLog != "-" || c.App != "app" || strings.Join(c.AppArgs, " ") != "--app-flag x" {
		t.Fatalf("parsed: %+v", c)
	}
	if _, err := ParseArgs([]string{"--keepalive-timeout", "0"}); err == nil {
		t.Error("--keepalive-timeout 0 accepted")
	}
	c, err = ParseArgs([]string{"--max-workers", "0"})
	if err != nil || c.Workers != 0 {
		t.Fatalf("--max-workers 0: %v %d", err, c.Workers)
	}
}

func TestParseErrors(t *testing.T) {
	longPath := "/tmp/" + strings.Repeat("a", 107) + ".sock"
	for _, tc := range []struct {
		args []string
		want string // the message must contain it
	}{
		{[]string{"--workers=-1"}, `--workers: must be between 0 and 512: "-1"`},
		{[]string{"--max-workers", "many"}, "--max-workers: not a whole number"},
		{[]string{"--port=abc"}, `--port: not a port number (0-65535): "abc"`},
		{[]string{"-p", "70000"}, "--port: not a port number"},
		{[]string{"--max-reqs-per-child=ten"}, "--max-reqs-per-child: not a number of requests"},
		{[]string{"--min-reqs-per-child=inf"}, "--min-reqs-per-child: not a number of requests"},
		{[]string{"--spawn-interval=-2"}, "--spawn-interval: must not be negative"},
		{[]string{"--timeout", "soon"}, "--timeout: not a number of seconds"},
		{[]string{"--umask", "999"}, "--umask: not an octal mask"},
		{[]string{"--ssl-verify-mode", "4"}, "--ssl-verify-mode: must be between 0 and 3"},
		{[]string{"--bogus"}, "unknown option --bogus"},
		{[]string{"-x"}, "unknown option"},
		{[]string{"--port"}, "--port: needs a value"},
		{[]string{"a", "b"}, "one APP expected, got 2"},
		{[]string{"--min-reqs-per-child", "50", "--max-reqs-per-child", "10"}, "above --max-reqs-per-child"},
		{[]string{"--no-reload", "-r"}, "--no-reload contradicts"},
		{[]string{"-l", "nonsense"}, `--listen: "nonsense": want HOST:PORT`},
		{[]string{"-l", "5137"}, `--listen: "5137": want HOST:PORT`},
		{[]string{"-l", "127.0.0.1:99999"}, `--listen: "127.0.0.1:99999": bad port "99999" (0-65535)`},
		{[]string{"-l", "127.0.0.1:"}, `--listen: "127.0.0.1:": bad port ""`},
		{[]string{"-l", "http://127.0.0.1:5137"}, `--listen: "http://127.0.0.1:5137": too many colons`},
		{[]string{"-S", ""}, "--socket: empty path"},
		{[]string{"--reload-ignore", "["}, `--reload-ignore: "[": syntax error in pattern`},
		{[]string{"-o", "999.1.1.1"}, `--host: "999.1.1.1": not an IP address`},
		{[]string{"-o", "a b"}, `--host: "a b": not an IP address or host name`},
		{[]string{"--host=[::1"}, `--host: "[::1": unbalanced brackets`},
		{[]string{"-o", "::zz"}, `--host: "::zz": not an IP address`},
		{[]string{"-o", "http://x"}, `--host: "http://x": not an IP address`},
		{[]string{"-l", "a b:80"}, `--listen: "a b:80": bad host "a b": not an IP address or host name`},
		{[]string{"-l", "999.1.1.1:80"}, `--listen: "999.1.1.1:80": bad host "999.1.1.1": not an IP address`},
		{[]string{"-l", "127.0.0.1:21045", "-l", "127.0.0.1:21045"}, "--listen: 127.0.0.1:21045 given twice"},
		{[]string{"-l", "127.0.0.1:80", "-l", "[::1]:80", "-l", "127.0.0.1:080"}, "--listen: 127.0.0.1:080 given twice"},
		{[]string{"-l", "[::1]:80", "-l", "[0:0::1]:80"}, "--listen: [0:0::1]:80 given twice"},
		{[]string{"-l", "/tmp/a.sock", "-l", "/tmp/./a.sock"}, "--listen: /tmp/./a.sock given twice"},
		{[]string{"-l", "/tmp/a.sock", "-S", "/tmp/a.sock"}, "--socket: /tmp/a.sock given twice (also as --listen)"},
		{[]string{"-l", "@a", "-l", "@a"}, "--listen: @a given twice"},
		{[]string{"-S", longPath}, `--socket: "` + longPath + `": path too long (117 bytes, at most 107)`},
		{[]string{"-l", longPath}, `--listen: "` + longPath + `": path too long (117 bytes, at most 107)`},
		{[]string{"-l", "@" + strings.Repeat("a", 108)}, "abstract name too long (108 bytes after the @, at most 107)"},
		{[]string{"-R", "/nonexistent-starlight-dir"}, "--Reload: /nonexistent-starlight-dir: no such directory"},
		{[]string{"--Reload=.,/nonexistent-starlight-dir"}, "--Reload: /nonexistent-starlight-dir: no such directory"},
		{[]string{"-R", "options.go"}, "--Reload: options.go: not a directory"},
		{[]string{"-R", ""}, "--Reload: empty directory name"},
		{[]string{"-R", ".,,"}, "--Reload: empty directory name"},
		{[]string{"--ssl-verify-mode", "2"}, "--ssl-verify-mode needs --ssl"},
		{[]string{"--ssl-verify-mode=0"}, "--ssl-verify-mode needs --ssl"},
		{[]string{"--ssl-ca-file", "ca.pem"}, "--ssl-ca-file needs --ssl"},
		{[]string{"--ssl-client-ca-file", "ca.pem"}, "--ssl-client-ca-file needs --ssl"},
		{[]string{"--ssl-key-file", "k.pem", "--ssl-cert-file", "c.pem"}, "--ssl-key-file and --ssl-cert-file need --ssl"},
		{[]string{"--ssl-key-file", "k.pem", "--ssl-cert-file", "c.pem", "--ssl-verify-mode", "1"}, "--ssl-key-file, --ssl-cert-file and --ssl-verify-mode need --ssl"},
		{[]string{"--ssl=false", "--ssl-key-file", "k.pem"}, "--ssl-key-file needs --ssl"},
	} {
		_, err := ParseArgs(tc.args)
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%q: error %v, want a usage error", tc.args, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%q: %q, want one line containing %q", tc.args, msg, tc.want)
		}
	}
}

func TestParseNotes(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		given bool
		notes int
	}{
		{[]string{"app"}, false, 0},
		{[]string{"-p", "80", "app"}, true, 0},
		{[]string{"-l", ":80", "app"}, true, 0},
		{[]string{"-p", "80", "-l", ":81", "app"}, true, 1},
		{[]string{"-o", "127.0.0.1", "-S", "/tmp/a.sock", "app"}, true, 1},
	} {
		c, err := ParseArgs(tc.args)
		if err != nil || c.AddressGiven != tc.given || len(c.Notes) != tc.notes {
			t.Errorf("%q: address given %v, notes %q, %v; want %v and %d notes", tc.args, c.AddressGiven, c.Notes, err, tc.given, tc.notes)
		}
	}
}

// -E defaults to $STARLIGHT_ENV, as Plack's -E does to $PLACK_ENV.
func TestEnvFromEnvironment(t *testing.T) {
	t.Setenv("STARLIGHT_ENV", "staging")
	if c, err := ParseArgs([]string{"app"}); err != nil || c.Env != "staging" {
		t.Errorf("$STARLIGHT_ENV=staging: env %q, %v", c.Env, err)
	}
	if c, err := ParseArgs([]string{"-E", "production", "app"}); err != nil || c.Env != "production" {
		t.Errorf("$STARLIGHT_ENV=staging -E production: env %q, %v", c.Env, err)
	}
	t.Setenv("STARLIGHT_ENV", "")
	if c, err := ParseArgs([]string{"app"}); err != nil || c.Env != prefork.DefaultConfig().Env {
		t.Errorf("$STARLIGHT_ENV empty: env %q, %v", c.Env, err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	if _, err := ParseArgs([]string{"-h"}); !errors.Is(err, ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if _, err := ParseArgs([]string{"--version"}); !errors.Is(err, ErrVersion) {
		t.Errorf("--version: %v", err)
	}
	var b strings.Builder
	PrintUsage(&b)
	for _, name := range []string{"--host", "--port", "--listen", "--socket", "--ipv6", "--reuse-port", "--ssl", "--ssl-key-file",
		"--ssl-cert-file", "--ssl-ca-file", "--ssl-client-ca-file", "--ssl-verify-mode", "--max-workers",
		"--max-reqs-per-child", "--min-reqs-per-child", "--spawn-interval", "--main-process-delay", "--timeout",
		"--keepalive-timeout", "--max-keepalive-reqs", "--user", "--group", "--umask", "--daemonize", "--pid",
		"--error-log", "--access-log", "--env", "--quiet", "--reload", "--Reload", "--help", "--version"} {
		if !strings.Contains(b.String(), name+" ") {
			t.Errorf("--help does not list %s", name)
		}
	}
}

// --pid: an empty path, a directory, or a path in a directory that does
// not exist is a bad value, named as --pid.
func TestParsePidFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"", "--pid: empty path"},
		{dir, "--pid: " + dir + " is a directory"},
		{filepath.Join(dir, "nodir", "x.pid"), "--pid: " + filepath.Join(dir, "nodir", "x.pid") + ": directory " + filepath.Join(dir, "nodir") + " does not exist"},
		{filepath.Join(file, "x.pid"), "--pid: " + filepath.Join(file, "x.pid") + ": " + file + " is not a directory"},
	} {
		_, err := ParseArgs([]string{"--pid", tc.path})
		var ue *UsageError
		if !errors.As(err, &ue) || err.Error() != tc.want {
			t.Errorf("--pid %q: %v, want the usage error %q", tc.path, err, tc.want)
		}
	}
	if c, err := ParseArgs([]string{"--pid", filepath.Join(dir, "app.pid")}); err != nil || c.PidFile != filepath.Join(dir, "app.pid") {
		t.Errorf("--pid in an existing directory: %q, %v", c.PidFile, err)
	}
}

// -o takes an IP address, bracketed or not, or a host name; "" is every
// address.
func TestParseHost(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{
		{"[::1]", "::1"},
		{"::1", "::1"},
		{"127.0.0.1", "127.0.0.1"},
		{"[127.0.0.1]", "127.0.0.1"},
		{"localhost", "localhost"},
		{"my-host.example.com.", "my-host.example.com."},
		{"fe80::1%lo", "fe80::1%lo"},
		{"", ""},
	} {
		c, err := ParseArgs([]string{"-o", tc.arg})
		if err != nil || c.Host != tc.want {
			t.Errorf("-o %q: host %q, %v; want %q", tc.arg, c.Host, err, tc.want)
		}
	}
	// prefork's TestAddresses binds {::1 80} as [::1]:80.
	if c, err := ParseArgs([]string{"-o", "[::1]", "-p", "80"}); err != nil || c.Host != "::1" || c.Port != 80 {
		t.Errorf("-o [::1] -p 80: host %q, port %d, %v; want ::1 and 80", c.Host, c.Port, err)
	}
}

// What may be given twice or is at the limit is accepted.
func TestParseListenAccepted(t *testing.T) {
	for _, args := range [][]string{
		{"-l", "127.0.0.1:0", "-l", "127.0.0.1:0"}, // two ports
		{"-l", "127.0.0.1:80", "-l", "127.0.0.1:81", "-l", "[::1]:80", "-l", "/tmp/a.sock", "-S", "/tmp/b.sock", "-l", "@a"},
		{"-S", "/" + strings.Repeat("a", 106)}, // 107 bytes
		{"-l", "@" + strings.Repeat("a", 107)}, // 107 bytes after the @
	} {
		if _, err := ParseArgs(args); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
}

// --help says what --ipv6 does: one [::] socket, IPv4 clients included;
// not a second socket ("[::] too").
func TestUsageIPv6(t *testing.T) {
	var b strings.Builder
	PrintUsage(&b)
	if !strings.Contains(b.String(), "--ipv6                   with no --host, listen on [::]: IPv6 and IPv4\n") || strings.Contains(b.String(), "[::] too") {
		t.Errorf("--help does not describe --ipv6 as one [::] socket for IPv6 and IPv4 clients:\n%s", b.String())
	}
}

// --help fits an 80-column terminal.
func TestUsageFits80Columns(t *testing.T) {
	var b strings.Builder
	PrintUsage(&b)
	for i, line := range strings.Split(b.String(), "\n") {
		if n := utf8.RuneCountInString(line); n > 80 {
			t.Errorf("--help line %d is %d columns: %q", i+1, n, line)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"512M": 512 << 20, "1G": 1 << 30, "1.5g": 3 << 29, "300K": 300 << 10, "1048576": 1 << 20, "100MB": 100 << 20, "0": 0,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "-1M", "x", "12Q", "NaN", "+5M", "1e30G"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
