package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// --user/--group after binding a privileged port and a unix socket as
// root; --umask on the files the master creates.
func TestProdPrivileges(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	uid, ok := lookupEtc("/etc/passwd", "nobody")
	if !ok {
		t.Skip("no user nobody")
	}
	group := "nogroup"
	gid, ok := lookupEtc("/etc/group", group)
	if !ok {
		group = "nobody"
		if gid, ok = lookupEtc("/etc/group", group); !ok {
			t.Skip("no group nogroup or nobody")
		}
	}
	// A second group, if there is one, for a list: the first is the
	// primary group, all are the supplementary groups.
	groups, wantGroups := group, itoa(gid)
	if gid2, ok := lookupEtc("/etc/group", "daemon"); ok && gid2 != gid {
		groups += ",daemon"
		ids := []int{gid, gid2}
		slices.Sort(ids)
		wantGroups = itoa(ids[0]) + " " + itoa(ids[1])
	}
	// The app must be reachable by nobody: not under t.TempDir (0700).
	base := sharedDir(t, "starlight-e2e-priv-")
	run := filepath.Join(base, "run") // like /run/myapp: the user's own
	if err := os.Mkdir(run, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(run, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	if err := os.Chown(run, uid, gid); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(base, "app")
	copyExecutable(t, appBin, app)

	sock := filepath.Join(run, "app.sock")
	pidFile := filepath.Join(run, "app.pid")
	errLog := filepath.Join(run, "error.log")
	reReadyLine := regexp.MustCompile(`starlight: worker \d+ ready`)
	var s *server
	var addr string
	for port := 81; port < 100 && s == nil; port++ {
		addr = "127.0.0.1:" + itoa(port)
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			continue
		}
		ln.Close()
		try := startArgv(t, app, []string{starlightBin, "--workers", "2", "--user", "nobody", "--group", groups, "--umask", "027",
			"-l", addr, "-S", sock, "--pid", pidFile, "--error-log", errLog, app}, nil)
		eventually(t, startTimeout, "2 workers ready, or an exit", func() bool { return try.exited() || fileCount(errLog, reReadyLine) >= 2 })
		if !try.exited() {
			s = try
		} else if !strings.Contains(try.stderr.String(), "address already in use") {
			t.Fatalf("starlight exited (%s):\n%s", try.exitDesc, try.stderr)
		}
	}
	if s == nil {
		t.Skip("no free port in 81..99")
	}
	workers := s.workers()
	if len(workers) != 2 {
		t.Fatalf("workers %v, want 2", workers)
	}
	wantIDs := map[string]string{
		"Uid":    fmt.Sprintf("%d %d %d %d", uid, uid, uid, uid),
		"Gid":    fmt.Sprintf("%d %d %d %d", gid, gid, gid, gid),
		"Groups": wantGroups,
		"Umask":  "0027",
	}
	for _, pid := range append([]int{s.pid}, workers...) {
		st := procStatus(t, pid)
		for k, want := range wantIDs {
			if st[k] != want {
				t.Errorf("process %d: %s %q, want %q", pid, k, st[k], want)
			}
		}
	}
	if body := mustFetch(t, s.client, "http://"+addr+"/pid"); !slices.Contains(workers, pidOf(body)) {
		t.Errorf("the privileged port answered %q, not from a worker", body)
	}
	mustFetch(t, unixHTTP(sock), "http://unix/pid")
	for path, want := range map[string]os.FileMode{sock: 0o750, errLog: 0o640} {
		st, err := os.Stat(path)
		if err != nil {
			t.Errorf("%v", err)
		} else if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (umask 027)", path, st.Mode().Perm(), want)
		}
	}
	if st, err := os.Stat(errLog); err == nil {
		if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != uid {
			t.Errorf("error log owned by %d, want %d: USR1 could not reopen it", sys.Uid, uid)
		}
	}
	if st, err := os.Stat(sock); err == nil {
		if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != uid || int(sys.Gid) != gid {
			t.Errorf("unix socket owned by %d:%d, want %d:%d: a proxy running as the user could not connect", sys.Uid, sys.Gid, uid, gid)
		}
	}
	s.signal(t, syscall.SIGUSR1)
	waitFileLine(t, errLog, regexp.MustCompile(`starlight: log files reopened$`))
	if fileHas(errLog, regexp.MustCompile(`reopen .*permission denied`)) {
		t.Errorf("USR1 could not reopen the error log as nobody")
	}
	s.stop(t)
	for _, p := range []string{sock, pidFile} {
		if exists(p) {
			t.Errorf("%s left behind at exit", p)
		}
	}

	for _, tc := range []struct{ args, want string }{
		{"--user no-such-user-e2e", `--user: unknown user "no-such-user-e2e"`},
		{"--group no-such-group-e2e", `--group: unknown group "no-such-group-e2e"`},
		{"--user nobody --group " + group + ",no-such-group-e2e", `--group: unknown group "no-such-group-e2e"`},
	} {
		args := append(strings.Fields(tc.args), "--workers", "1", "-l", "127.0.0.1:"+itoa(freePort(t)), app)
		code, stderr := runFailing(t, app, args...)
		if code != 2 || !reOneLine.MatchString(stderr) || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and one line with %s", tc.args, code, stderr, tc.want)
		}
	}
	assertNothingLeft(t, app)
}
