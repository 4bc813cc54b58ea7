package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// A bad option is one line naming it, with exit status 2.
func TestBadOptions(t *testing.T) {
	t.Parallel()
	reLine := regexp.MustCompile(`^starlight: .+ \(see starlight --help\)\n$`)
	for _, tc := range []struct {
		arg  string
		want string // the option, then the bad value if any
	}{
		{"--workers=-1", "--workers: must be between 0 and 512: \"-1\""},
		{"--max-workers=many", "--max-workers: not a whole number: \"many\""},
		{"--port=abc", "--port: not a port number (0-65535): \"abc\""},
		{"--max-reqs-per-child=ten", "--max-reqs-per-child: not a number of requests"},
		{"--spawn-interval=-2", "--spawn-interval: must not be negative: \"-2\""},
		{"--graceful-timeout=soon", "--graceful-timeout: not a number of seconds: \"soon\""},
		{"--bogus", "unknown option --bogus"},
		{"--listen=127.0.0.1:99999", `--listen: "127.0.0.1:99999": bad port "99999"`},
		{"--socket=", "--socket: empty path"},
		{"--ssl-verify-mode=2", "--ssl-verify-mode needs --ssl"},
		{"--Reload=/nonexistent-starlight-e2e", "--Reload: /nonexistent-starlight-e2e: no such directory"},
		{"--Reload=", "--Reload: empty directory name"},
		{"--host=999.1.1.1", `--host: "999.1.1.1": not an IP address`},
		{"--host=a b", `--host: "a b": not an IP address or host name`},
		{"--pid=", "--pid: empty path"},
		{"--pid=" + os.TempDir(), "--pid: " + os.TempDir() + " is a directory"},
		{"--pid=/nonexistent-starlight-e2e/x.pid", "--pid: /nonexistent-starlight-e2e/x.pid: directory /nonexistent-starlight-e2e does not exist"},
	} {
		t.Run(strings.TrimLeft(tc.arg, "-"), func(t *testing.T) {
			t.Parallel()
			app := testApp(t)
			port := freePort(t)
			code, stdout, stderr := runStarlight(t, "", "-l", "127.0.0.1:"+itoa(port), tc.arg, app)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !reLine.MatchString(stderr) || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q: want one line `starlight: %s... (see starlight --help)`", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
			assertNothingLeft(t, app)
		})
	}
}

// A server that cannot start exits 1 and says why.
func TestCannotStart(t *testing.T) {
	t.Parallel()
	t.Run("app-missing", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "nonexistent")
		code, _, stderr := runStarlight(t, "", "-l", "127.0.0.1:"+itoa(freePort(t)), missing)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if want := "starlight: app " + missing + ": no such file or directory\n"; stderr != want {
			t.Errorf("stderr %q, want %q", stderr, want)
		}
	})
	t.Run("port-in-use", func(t *testing.T) {
		t.Parallel()
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		app := testApp(t)
		code, _, stderr := runStarlight(t, "", "--workers", "2", "-l", ln.Addr().String(), app)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if !strings.Contains(stderr, "listen "+ln.Addr().String()+": address already in use") {
			t.Errorf("stderr %q, want it to say the address is in use", stderr)
		}
		if strings.Contains(stderr, "spawned") {
			t.Errorf("workers spawned though the port could not be bound")
		}
		assertNothingLeft(t, app)
	})
	t.Run("host-unresolvable", func(t *testing.T) {
		t.Parallel()
		app := testApp(t)
		code, _, stderr := runStarlight(t, "", "--workers", "1", "-o", "nosuch-host.invalid", "-p", itoa(freePort(t)), app)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if want := "starlight: --host nosuch-host.invalid: cannot resolve the name: "; !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("stderr %q, want one line %q...", stderr, want)
		}
		assertNothingLeft(t, app)
	})
	t.Run("build-fails", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, filepath.Join(dir, "go.mod"), "module broken\n\ngo 1.26\n")
		write(t, filepath.Join(dir, "main.go"), "package main\n\nfunc main() { notDefinedAnywhere() }\n")
		code, _, stderr := runStarlight(t, "", "--workers", "2", "-l", "127.0.0.1:"+itoa(freePort(t)), dir)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		if !strings.Contains(stderr, "undefined: notDefinedAnywhere") {
			t.Errorf("stderr %q, want the compiler's output", stderr)
		}
		if strings.Contains(stderr, "spawned") {
			t.Errorf("workers spawned though the build failed")
		}
	})
	t.Run("no-app-here", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		write(t, filepath.Join(dir, "lib.go"), "package lib\n")
		code, _, stderr := runStarlight(t, dir, "-l", "127.0.0.1:"+itoa(freePort(t)))
		if code != 2 {
			t.Errorf("exit status %d, want 2", code)
		}
		if !strings.Contains(stderr, "starlight ./demo") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("stderr %q, want one line with the hint `starlight ./demo`", stderr)
		}
	})
}

// -p with -l: the master says that -p is ignored.
func TestOverriddenOptionsNoted(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "1", "-p", "1"}, ready: 1})
	if s.count(regexp.MustCompile(`starlight: --host and --port are ignored: --listen or --socket says where to listen$`)) != 1 {
		t.Errorf("no line says -p is ignored:\n%s", s.stderr)
	}
	s.stop(t)
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// --user and --group without root: the identity the process already has
// is fine (nothing to do), any other is refused at once, naming the option
// given, with exit status 1. Run as nobody through setpriv.
func TestUserGroupNotRoot(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run starlight as uid 65534 through setpriv")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not found")
	}
	// The binaries must be reachable by uid 65534: not under t.TempDir (0700).
	base := sharedDir(t, "starlight-e2e-notroot-")
	bin := filepath.Join(base, "starlight")
	app := filepath.Join(base, "app")
	copyExecutable(t, starlightBin, bin)
	copyExecutable(t, appBin, app)
	asNobody := func(args ...string) *server {
		argv := append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)
		return startArgv(t, app, argv, nil)
	}

	for _, tc := range []struct{ args, want string }{
		{"--user 0", "starlight: --user 0: changing user needs root; starlight runs as "},
		{"--user 0 --group 65534", "starlight: --user 0: changing user needs root"},
		{"--group 0", "starlight: --group 0: changing group needs root"},
		{"--user 65534 --group 65534,0", "starlight: --group 65534,0: changing group needs root"},
	} {
		addr := "127.0.0.1:" + itoa(freePort(t))
		s := asNobody(append(strings.Fields(tc.args), "--workers", "1", "-l", addr, app)...)
		code := s.wait(t, startTimeout)
		stderr := s.stderr.String()
		if code != 1 || !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("as nobody, %s: exit %d, stderr %q; want 1 and one line %q...", tc.args, code, stderr, tc.want)
		}
		if strings.Contains(stderr, "spawned") {
			t.Errorf("as nobody, %s: workers spawned", tc.args)
		}
	}

	// The identity it already has: it serves.
	addr := "127.0.0.1:" + itoa(freePort(t))
	s := asNobody("--user", "65534", "--group", "65534", "--workers", "1", "-l", addr, app)
	eventually(t, startTimeout, "a worker ready, or an exit", func() bool { return s.exited() || s.count(reReady) >= 1 })
	if s.exited() {
		t.Fatalf("as nobody, --user 65534 --group 65534: exited (%s)", s.exitDesc)
	}
	if body := mustFetch(t, s.client, "http://"+addr+"/pid"); pidOf(body) == 0 {
		t.Errorf("GET /pid: %q", body)
	}
	s.stop(t)
	assertNothingLeft(t, app)
}

// -o takes an IPv6 address in brackets as well as bare.
func TestHostInBrackets(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	port := itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	app := testApp(t)
	s := startArgv(t, app, []string{starlightBin, "--workers", "1", "-o", "[::1]", "-p", port, app}, nil)
	eventually(t, startTimeout, "a worker ready, or an exit", func() bool { return s.exited() || s.count(reReady) >= 1 })
	if s.exited() {
		t.Fatalf("-o [::1]: exited (%s)", s.exitDesc)
	}
	if !strings.Contains(s.stderr.String(), "http://[::1]:"+port+"/") {
		t.Errorf("the log does not show http://[::1]:%s/", port)
	}
	if body := mustFetch(t, s.client, "http://[::1]:"+port+"/pid"); pidOf(body) == 0 {
		t.Errorf("GET /pid on [::1]:%s: %q", port, body)
	}
	s.stop(t)
}

// The same address twice, or a unix socket path over the kernel's limit
// (sun_path, 108 bytes with the NUL), is a bad value, exit status 2; a
// path of 107 bytes serves.
func TestListenBadAddresses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := "127.0.0.1:" + itoa(freePort(t))
	sock := filepath.Join(dir, "s.sock")
	long := filepath.Join(dir, strings.Repeat("x", 120)+".sock")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-l", addr, "-l", addr}, "starlight: --listen: " + addr + " given twice (see starlight --help)\n"},
		{[]string{"-l", sock, "-l", sock}, "starlight: --listen: " + sock + " given twice (see starlight --help)\n"},
		{[]string{"-l", sock, "-S", sock}, "starlight: --socket: " + sock + " given twice (also as --listen) (see starlight --help)\n"},
		{[]string{"-S", long}, "starlight: --socket: \"" + long + "\": path too long (" + itoa(len(long)) + " bytes, at most 107) (see starlight --help)\n"},
		{[]string{"-l", addr, "-l", long}, "starlight: --listen: \"" + long + "\": path too long (" + itoa(len(long)) + " bytes, at most 107) (see starlight --help)\n"},
	} {
		app := testApp(t)
		code, stdout, stderr := runStarlight(t, "", append(append([]string{"--workers", "1"}, tc.args...), app)...)
		if code != 2 || stderr != tc.want || stdout != "" {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr, tc.want)
		}
		assertNothingLeft(t, app)
	}

	// At the limit: 107 bytes.
	pad := 107 - len(dir) - len("/.sock")
	if pad < 1 {
		t.Skipf("temporary directory %s too long for a 107-byte socket path in it", dir)
	}
	limit := filepath.Join(dir, strings.Repeat("y", pad)+".sock")
	app := testApp(t)
	s := startArgv(t, app, []string{starlightBin, "--workers", "1", "-S", limit, app}, nil)
	eventually(t, startTimeout, "a worker ready, or an exit", func() bool { return s.exited() || s.count(reReady) >= 1 })
	if s.exited() {
		t.Fatalf("-S with a path of %d bytes: exited (%s)", len(limit), s.exitDesc)
	}
	mustFetch(t, unixHTTP(limit), "http://unix/pid")
	s.stop(t)
}
