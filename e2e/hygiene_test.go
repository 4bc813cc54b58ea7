package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Privilege and file hygiene: what starlight writes as root is never a
// file someone else chose (a symbolic link at the path), descriptors the
// master inherited never reach a worker, and every file it makes honours
// --umask.

// appUser returns the user and group an app runs as in these tests
// (nobody, nogroup or nobody), skipping the test unless it runs as root.
func appUser(t *testing.T) (uid, gid int, group string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	uid, ok := lookupEtc("/etc/passwd", "nobody")
	if !ok {
		t.Skip("no user nobody")
	}
	for _, group = range []string{"nogroup", "nobody"} {
		if gid, ok = lookupEtc("/etc/group", group); ok {
			return uid, gid, group
		}
	}
	t.Skip("no group nogroup or nobody")
	return
}

// userDir makes dir, owned by uid:gid with mode 0755: a directory the
// app's user may write, as /run/myapp or /var/log/myapp are.
func userDir(t *testing.T, dir string, uid, gid int) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// plantTargets are what a symbolic link planted at a path starlight writes
// points to: a file of root's that only root may read, nothing (a file
// would be created there), a directory.
type plantTargets struct {
	secret, dangling, dir string
}

const secretText = "root only\n"

func makeTargets(t *testing.T, base string) plantTargets {
	t.Helper()
	p := plantTargets{
		secret:   filepath.Join(base, "secret"),
		dangling: filepath.Join(base, "planted"),
		dir:      filepath.Join(base, "adir"),
	}
	if err := os.WriteFile(p.secret, []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p.secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p plantTargets) cases() []struct{ name, target string } {
	return []struct{ name, target string }{{"root-file", p.secret}, {"dangling", p.dangling}, {"directory", p.dir}}
}

// untouched fails the test unless the targets are as made: the secret
// root's, mode 0600, with its text; nothing where the dangling link
// points; the directory root's, mode 0755, empty.
func (p plantTargets) untouched(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(p.secret); err != nil || string(b) != secretText {
		t.Errorf("root's file %s now holds %q (%v), want %q", p.secret, b, err, secretText)
	}
	for path, mode := range map[string]os.FileMode{p.secret: 0o600, p.dir: os.ModeDir | 0o755} {
		st, err := os.Lstat(path)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != 0 || sys.Gid != 0 || st.Mode() != mode {
			t.Errorf("%s: %d:%d %v, want root's, %v", path, sys.Uid, sys.Gid, st.Mode(), mode)
		}
	}
	if exists(p.dangling) {
		t.Errorf("%s was created through the dangling link", p.dangling)
	}
	if ents, err := os.ReadDir(p.dir); err != nil || len(ents) > 0 {
		t.Errorf("the directory %s now holds %d entries (%v), want none", p.dir, len(ents), err)
	}
}

// runRefused runs starlight with args, which should refuse to start, and
// returns its exit status and stderr. Its TMPDIR is its own: no build
// directory another test's killed master left is there for it to sweep
// (and log) before the refusal.
func runRefused(t *testing.T, app string, args ...string) (int, string) {
	t.Helper()
	s := startArgv(t, app, append([]string{starlightBin}, args...), []string{"TMPDIR=" + sharedDir(t, "starlight-e2e-tmp-")})
	select {
	case <-s.done:
	case <-time.After(startTimeout):
		t.Fatalf("starlight %s: still running after %s; stderr:\n%s", strings.Join(args, " "), startTimeout, s.stderr)
	}
	return s.exitCode, s.stderr.String()
}

// reStamped is a line of the master's log, which starts with the time.
var reStamped = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} starlight: `)

// refusal returns the one line of stderr that says why a start failed, or
// "" unless there is exactly one: the lines of the master's log before it
// (stamped with the time) say other things.
func refusal(stderr string) string {
	var errs []string
	for _, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if !reStamped.MatchString(line) {
			errs = append(errs, line)
		}
	}
	if len(errs) != 1 || !strings.HasPrefix(errs[0], "starlight: ") || !strings.HasSuffix(stderr, errs[0]+"\n") {
		return ""
	}
	return errs[0]
}

// A symbolic link planted at the path of --error-log, --access-log, --pid
// or -S, in a directory the app's user may write, pointing to a file of
// root's, to nothing, or to a directory: the start is refused with one
// line naming the option and exit status 2, and what the link points to
// is left as it was (not written, not created, not handed to the user).
func TestHygieneSymlinkAtStart(t *testing.T) {
	t.Parallel()
	uid, gid, group := appUser(t)
	base := sharedDir(t, "starlight-e2e-hygiene-")
	app := filepath.Join(base, "app")
	copyExecutable(t, appBin, app)
	targets := makeTargets(t, base)
	options := []struct{ flag, name, file string }{
		{"--error-log", "--error-log", "error.log"},
		{"--access-log", "--access-log", "access.log"},
		{"--pid", "--pid", "app.pid"},
		{"-S", "--socket", "app.sock"},
	}
	for _, opt := range options {
		for _, tc := range targets.cases() {
			t.Run(strings.TrimLeft(opt.flag, "-")+"-"+tc.name, func(t *testing.T) {
				run := userDir(t, filepath.Join(base, strings.TrimLeft(opt.flag, "-")+"-"+tc.name), uid, gid)
				link := filepath.Join(run, opt.file)
				if err := os.Symlink(tc.target, link); err != nil {
					t.Fatal(err)
				}
				code, stderr := runRefused(t, app, "--user", "nobody", "--group", group, "--workers", "1",
					opt.flag, link, "-l", "127.0.0.1:"+itoa(freePort(t)), app)
				if msg := refusal(stderr); code != 2 || !strings.Contains(msg, opt.name) || !strings.Contains(msg, link+": a symbolic link: not followed") {
					t.Errorf("exit %d, stderr %q; want 2 and one line naming %s and saying the link is not followed", code, stderr, opt.name)
				}
				if got, err := os.Readlink(link); err != nil || got != tc.target {
					t.Errorf("the link is now %q (%v), want it left pointing to %s", got, err, tc.target)
				}
			})
		}
	}
	targets.untouched(t)
	assertNothingLeft(t, app)
}

// On SIGUSR1 a symbolic link planted where the log files were (logrotate
// moved them) is not followed: the log says why, the files open before
// stay in use, and what the links point to is left as it was. As root
// without --user (only the refusal protects root's files), with --user
// (the master switched already), and with the app serving in the master's
// place (--max-workers 0), which reopens the logs itself.
func TestHygieneSymlinkOnUSR1(t *testing.T) {
	t.Parallel()
	uid, gid, group := appUser(t)
	for _, mode := range []string{"root", "user", "standalone"} {
		asUser := mode == "user"
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			base := sharedDir(t, "starlight-e2e-hygiene-usr1-")
			app := filepath.Join(base, "app")
			copyExecutable(t, appBin, app)
			targets := makeTargets(t, base)
			run := userDir(t, filepath.Join(base, "log"), uid, gid)
			errLog, accLog := filepath.Join(run, "error.log"), filepath.Join(run, "access.log")
			addr := "127.0.0.1:" + itoa(freePort(t))
			argv := []string{starlightBin, "--workers", "1", "--error-log", errLog, "--access-log", accLog, "-l", addr}
			switch mode {
			case "user":
				argv = append(argv, "--user", "nobody", "--group", group)
			case "standalone": // the app reopens the logs itself
				argv = append(argv, "--max-workers", "0")
			}
			s := startArgv(t, app, append(argv, app), nil)
			eventually(t, startTimeout, "a ready worker, or an exit", func() bool {
				if mode == "standalone" {
					code, _, err := fetch(s.client, "http://"+addr+"/pid")
					return s.exited() || (err == nil && code == 200)
				}
				return s.exited() || fileHas(errLog, regexp.MustCompile(`starlight: worker \d+ ready`))
			})
			if s.exited() {
				t.Fatalf("starlight exited (%s):\n%s", s.exitDesc, s.stderr)
			}
			reWarning := regexp.MustCompile(`starlight: warning: starlight runs as root without --user: the app runs as root too`)
			if got := fileHas(errLog, reWarning); got == asUser {
				t.Errorf("warning that the app runs as root logged: %v, want %v", got, !asUser)
			}
			for i, tc := range targets.cases() {
				oldErr, oldAcc := fmt.Sprintf("%s.%d", errLog, i), fmt.Sprintf("%s.%d", accLog, i)
				for _, mv := range [][2]string{{errLog, oldErr}, {accLog, oldAcc}} {
					if err := os.Rename(mv[0], mv[1]); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(tc.target, mv[0]); err != nil {
						t.Fatal(err)
					}
				}
				s.signal(t, syscall.SIGUSR1)
				for _, log := range []string{errLog, accLog} {
					waitFileLine(t, oldErr, regexp.MustCompile(`starlight: (SIGUSR1: )?reopen `+regexp.QuoteMeta(log)+`: open `+regexp.QuoteMeta(log)+`: a symbolic link: not followed; the file open before stays in use$`))
				}
				// The file open before takes the next request's line.
				mustFetch(t, s.client, "http://"+addr+"/pid?case="+tc.name)
				waitFileLine(t, oldAcc, regexp.MustCompile(`GET /pid\?case=`+tc.name))
				targets.untouched(t)
				// The links gone, USR1 makes new files.
				os.Remove(errLog)
				os.Remove(accLog)
				s.signal(t, syscall.SIGUSR1)
				waitFileLine(t, errLog, regexp.MustCompile(`starlight: log files reopened$`))
			}
			wantUID := 0
			if asUser {
				wantUID = uid
			}
			for _, log := range []string{errLog, accLog} {
				if st, err := os.Lstat(log); err != nil || !st.Mode().IsRegular() || int(st.Sys().(*syscall.Stat_t).Uid) != wantUID {
					t.Errorf("%s after the last USR1: %v %v, want a regular file of uid %d", log, st, err, wantUID)
				}
			}
			s.stop(t)
			targets.untouched(t)
		})
	}
}

// Descriptors the launching process left open (fd 3, 9 and 251 here, on a
// file only root may read) reach no worker, nor the app serving in the
// master's place (--max-workers 0): the master marks them close-on-exec
// at start and says so. As root the workers run as nobody, as in the
// report this guards against, and neither they nor the master keep a
// capability.
func TestHygieneInheritedDescriptors(t *testing.T) {
	t.Parallel()
	base := sharedDir(t, "starlight-e2e-hygiene-fds-")
	app := filepath.Join(base, "app")
	copyExecutable(t, appBin, app)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte(secretText), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // not before the parallel subtests are done
	secretInfo, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	files := make([]*os.File, 251-2) // ExtraFiles[i] is fd 3+i; nil ones are closed
	for _, fd := range []int{3, 9, 251} {
		files[fd-3] = f
	}
	var user []string
	if os.Geteuid() == 0 {
		_, _, group := appUser(t)
		user = []string{"--user", "nobody", "--group", group}
	}
	reMarked := regexp.MustCompile(`starlight: (\d+) descriptors inherited from the launching process \(fds ([\d, ]+)\) marked close-on-exec: workers do not get them`)
	checkMarked := func(t *testing.T, s *server) {
		t.Helper()
		var m []string
		for _, line := range s.lines() {
			if m = reMarked.FindStringSubmatch(line); m != nil {
				break
			}
		}
		if m == nil {
			t.Errorf("no line says which inherited descriptors were marked close-on-exec")
			return
		}
		for _, fd := range []string{"3", "9", "251"} {
			if !slices.Contains(strings.Split(m[2], ", "), fd) {
				t.Errorf("fd %s not among those marked: %q", fd, m[0])
			}
		}
	}
	// holdsSecret lists the descriptors of pid open on the secret.
	holdsSecret := func(t *testing.T, pid int) []string {
		t.Helper()
		dir := "/proc/" + itoa(pid) + "/fd"
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatalf("process %d: %v", pid, err)
		}
		var held []string
		for _, e := range ents {
			if st, err := os.Stat(filepath.Join(dir, e.Name())); err == nil && os.SameFile(st, secretInfo) {
				held = append(held, e.Name())
			}
		}
		return held
	}

	t.Run("workers", func(t *testing.T) {
		t.Parallel()
		argv := append([]string{starlightBin, "--workers", "2", "-l", "127.0.0.1:" + itoa(freePort(t))}, user...)
		s := startArgv(t, app, append(argv, app), nil, files...)
		pids := s.waitPool(t, 2, startTimeout)
		checkMarked(t, s)
		if user != nil {
			// The switch leaves no capability, in the master or a worker.
			for _, pid := range append([]int{s.pid}, pids...) {
				if capEff := procStatus(t, pid)["CapEff"]; strings.Trim(capEff, "0") != "" {
					t.Errorf("process %d runs as nobody with CapEff %s, want none", pid, capEff)
				}
			}
		}
		for _, pid := range pids {
			if held := holdsSecret(t, pid); len(held) > 0 {
				t.Errorf("worker %d holds the file the master inherited, on fds %v", pid, held)
			}
		}
		// A worker started later (a recycle, a scale-up) alike.
		s.signal(t, syscall.SIGTTIN)
		pids = s.waitPool(t, 3, startTimeout)
		for _, pid := range pids {
			if held := holdsSecret(t, pid); len(held) > 0 {
				t.Errorf("worker %d holds the file the master inherited, on fds %v", pid, held)
			}
		}
		s.stop(t)
	})
	t.Run("standalone", func(t *testing.T) {
		t.Parallel()
		addr := "127.0.0.1:" + itoa(freePort(t))
		argv := append([]string{starlightBin, "--max-workers", "0", "-l", addr}, user...)
		s := startArgv(t, app, append(argv, app), nil, files...)
		eventually(t, startTimeout, "the app serving in the master's place", func() bool {
			code, body, err := fetch(s.client, "http://"+addr+"/pid")
			return s.exited() || (err == nil && code == 200 && pidOf(body) == s.pid)
		})
		if s.exited() {
			t.Fatalf("starlight exited (%s):\n%s", s.exitDesc, s.stderr)
		}
		checkMarked(t, s)
		if held := holdsSecret(t, s.pid); len(held) > 0 {
			t.Errorf("the app serving in the master's place holds the file the master inherited, on fds %v", held)
		}
		s.stop(t)
	})
}

// Every file starlight makes honours --umask: the logs and the pid file
// (0644 less the mask), the unix socket (0777 less the mask), the build
// directory (0700 at most). As root without --user, the log warns that
// the app runs as root.
func TestHygieneUmask(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		umask          string
		file, sock, bd os.FileMode
	}{
		{"077", 0o600, 0o700, 0o700},
		{"022", 0o644, 0o755, 0o700},
	} {
		t.Run(tc.umask, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tmp := filepath.Join(dir, "tmp") // TMPDIR: where the build directory goes
			if err := os.Mkdir(tmp, 0o700); err != nil {
				t.Fatal(err)
			}
			errLog, accLog := filepath.Join(dir, "error.log"), filepath.Join(dir, "access.log")
			pidFile, sock := filepath.Join(dir, "app.pid"), filepath.Join(dir, "app.sock")
			app := testApp(t)
			addr := "127.0.0.1:" + itoa(freePort(t))
			s := startArgv(t, app, []string{starlightBin, "--workers", "1", "--umask", tc.umask,
				"--error-log", errLog, "--access-log", accLog, "--pid", pidFile, "-S", sock, "-l", addr, app}, []string{"TMPDIR=" + tmp})
			eventually(t, startTimeout, "a ready worker, or an exit", func() bool {
				return s.exited() || fileHas(errLog, regexp.MustCompile(`starlight: worker \d+ ready`))
			})
			if s.exited() {
				t.Fatalf("starlight exited (%s):\n%s", s.exitDesc, s.stderr)
			}
			builds, _ := filepath.Glob(filepath.Join(tmp, "starlight-build-*"))
			if len(builds) != 1 {
				t.Fatalf("build directories in TMPDIR: %v, want one", builds)
			}
			for path, want := range map[string]os.FileMode{errLog: tc.file, accLog: tc.file, pidFile: tc.file, sock: tc.sock, builds[0]: tc.bd} {
				if st, err := os.Lstat(path); err != nil {
					t.Errorf("%v", err)
				} else if st.Mode().Perm() != want {
					t.Errorf("%s: mode %v, want %v (--umask %s)", path, st.Mode().Perm(), want, tc.umask)
				}
			}
			if os.Geteuid() == 0 && !fileHas(errLog, regexp.MustCompile(`starlight: warning: starlight runs as root without --user: the app runs as root too, with every privilege$`)) {
				t.Errorf("running as root without --user, the log has no warning that the app runs as root")
			}
			s.stop(t)
			for _, p := range []string{pidFile, sock} {
				if exists(p) {
					t.Errorf("%s left behind at exit", p)
				}
			}
		})
	}
}
