package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// --error-log takes the master's log and the workers' stderr (a panic's
// stack included), appending; --access-log the access lines; after the
// files are moved away, USR1 has both written afresh at their paths.
func TestProdLogFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	errLog := filepath.Join(dir, "error.log")
	accLog := filepath.Join(dir, "access.log")
	write(t, errLog, "a line from before\n")
	addr := "127.0.0.1:" + itoa(freePort(t))
	app := testApp(t)
	s := startArgv(t, app, []string{starlightBin, "--workers", "2", "--error-log", errLog, "--access-log", accLog, "-l", addr, app}, nil)
	url := "http://" + addr
	waitFileLine(t, errLog, regexp.MustCompile(`starlight: worker \d+ ready`))
	eventually(t, startTimeout, "the server answers", func() bool { _, _, err := fetch(s.client, url+"/pid"); return err == nil })

	pid := pidOf(mustFetch(t, s.client, url+"/sleep?ms=0"))
	waitFileLine(t, errLog, regexp.MustCompile(`^testapp: worker `+itoa(pid)+` sleeping 0 ms$`))
	if code, _, _ := fetch(s.client, url+"/panic"); code != http.StatusInternalServerError {
		t.Errorf("GET /panic: status %d, want 500", code)
	}
	waitFileLine(t, errLog, regexp.MustCompile(`panic serving GET /panic: testapp: worker \d+ panics on purpose`))
	waitFileLine(t, errLog, regexp.MustCompile(`^goroutine \d+ \[running\]:$`))
	waitFileLine(t, accLog, regexp.MustCompile(`"GET /sleep\?ms=0 HTTP/1.1" 200 `))
	b, _ := os.ReadFile(errLog)
	if !strings.HasPrefix(string(b), "a line from before\n") {
		t.Errorf("the error log was not appended to: it starts %q", b[:min(len(b), 80)])
	}
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d [\d:.]+ starlight: starlight .* serving http://` + regexp.QuoteMeta(addr) + `/`).Match(b) {
		t.Errorf("the master's start line is not in the error log:\n%s", b)
	}
	if got := s.stderr.String(); got != "" {
		t.Errorf("with --error-log, the master still wrote to stderr: %q", got)
	}

	// logrotate: move the files, then USR1.
	for _, f := range []string{errLog, accLog} {
		if err := os.Rename(f, f+".1"); err != nil {
			t.Fatal(err)
		}
	}
	s.signal(t, syscall.SIGUSR1)
	waitFileLine(t, errLog, regexp.MustCompile(`starlight: log files reopened$`))
	pid = pidOf(mustFetch(t, s.client, url+"/sleep?ms=1"))
	waitFileLine(t, errLog, regexp.MustCompile(`^testapp: worker `+itoa(pid)+` sleeping 1 ms$`))
	waitFileLine(t, accLog, regexp.MustCompile(`"GET /sleep\?ms=1 HTTP/1.1" 200 `))
	s.stop(t)
	waitFileLine(t, errLog, regexp.MustCompile(`starlight: stopping gracefully \(SIGTERM\)`))
	for _, f := range []string{errLog, accLog} {
		if fileHas(f+".1", regexp.MustCompile(`sleeping 1 ms|ms=1 |reopened|stopping`)) {
			t.Errorf("%s.1 got lines after USR1", f)
		}
	}

	// A log file that cannot be opened.
	bad := filepath.Join(dir, "nonexistent", "error.log")
	code, stderr := runFailing(t, app, "--workers", "1", "--error-log", bad, "-l", "127.0.0.1:"+itoa(freePort(t)), app)
	if code != 2 || !reOneLine.MatchString(stderr) || !strings.Contains(stderr, "--error-log: open "+bad+": no such file or directory") {
		t.Errorf("--error-log in a missing directory: exit %d, stderr %q; want 2 and one line", code, stderr)
	}

	// A named pipe that nothing reads: refused at once, rather than a
	// master waiting for a reader, deaf to signals.
	fifo := filepath.Join(dir, "access.fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr = runFailing(t, app, "--workers", "1", "--access-log", fifo, "-l", "127.0.0.1:"+itoa(freePort(t)), app)
	if code != 2 || !reOneLine.MatchString(stderr) || !strings.Contains(stderr, "--access-log: open "+fifo+": a named pipe that nothing reads") {
		t.Errorf("--access-log on a pipe nothing reads: exit %d, stderr %q; want 2 and one line", code, stderr)
	}
}
