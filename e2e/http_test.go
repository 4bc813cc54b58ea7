package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// An Apache combined log line: host ident user [time] "request" status
// size "referer" "user agent". Quoted fields escape " and \ with \.
var reCombined = regexp.MustCompile(`^(\S+) (\S+) (\S+) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$`)

var unescaper = strings.NewReplacer(`\"`, `"`, `\\`, `\`)

type accessLine struct {
	host, request, status, size, referer, agent string
}

// readAccessLog returns the lines of path; a line that is not in the
// combined format is returned in bad.
func readAccessLog(t *testing.T, path string) (lines []accessLine, bad []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		// A line being written; only whole lines count.
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" {
			continue
		}
		m := reCombined.FindStringSubmatch(strings.TrimSuffix(l, "\n"))
		if m == nil {
			bad = append(bad, l)
			continue
		}
		lines = append(lines, accessLine{m[1], unescaper.Replace(m[5]), m[6], m[7], unescaper.Replace(m[8]), unescaper.Replace(m[9])})
	}
	return lines, bad
}

// waitAccessLog waits until path holds n lines, and checks it holds no more
// and no broken one.
func waitAccessLog(t *testing.T, path string, n int) []accessLine {
	t.Helper()
	var lines []accessLine
	var bad []string
	ok := poll(5*time.Second, func() bool {
		lines, bad = readAccessLog(t, path)
		return len(lines)+len(bad) >= n
	})
	for i, l := range bad {
		if i == 3 {
			t.Errorf("... %d broken lines in all", len(bad))
			break
		}
		if len(l) > 300 {
			l = l[:150] + " ... " + l[len(l)-150:]
		}
		t.Errorf("access log line not in the combined format: %q", l)
	}
	if !ok || len(lines)+len(bad) != n {
		t.Fatalf("access log has %d lines (%d broken), want %d", len(lines)+len(bad), len(bad), n)
	}
	return lines
}

// --access-log writes one combined-format line per request, from every
// worker, and concurrent requests never break a line.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "access.log")
	// A small budget makes several workers serve the first 20 requests,
	// and checks that an exiting worker's last lines are not lost.
	s := start(t, options{args: []string{"--workers", "4", "--max-reqs-per-child", "5", "--access-log", path}, ready: 4})

	r := loadPIDs(s, s.client, 4, 20, 20*time.Second, nil)
	if n := r.errs.count(); n > 0 || r.requests.Load() != 20 {
		t.Fatalf("%d of %d requests failed:\n%s", n, r.requests.Load(), &r.errs)
	}
	if r.distinct() < 2 {
		t.Errorf("one worker answered all 20 requests with a budget of 5: %v", r.pids)
	}
	lines := waitAccessLog(t, path, 20)
	for _, l := range lines {
		if l.host != "127.0.0.1" || l.request != "GET /pid HTTP/1.1" || l.status != "200" || l.agent != "Go-http-client/1.1" || l.referer != "-" {
			t.Errorf("access log line %+v, want 127.0.0.1 \"GET /pid HTTP/1.1\" 200 and Go's agent", l)
		}
		if n, err := strconv.Atoi(l.size); err != nil || n < len("1 1\n") {
			t.Errorf("access log size %q, want the body's size", l.size)
		}
	}

	// Many concurrent requests with long fields that need escaping.
	const clients, each = 8, 25
	long := strings.Repeat(`a "quoted" \ field `, 200) + "end" // about 4 KB
	var wg sync.WaitGroup
	var errs errList
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				id := fmt.Sprintf("%d-%d", c, i)
				req, _ := http.NewRequest("GET", s.url("/pid?id="+id), nil)
				req.Header.Set("User-Agent", "agent "+id+" "+long)
				req.Header.Set("Referer", "http://example.com/"+id)
				doOK(s.client, req, &errs)
			}
		})
	}
	wg.Wait()
	if n := errs.count(); n > 0 {
		t.Fatalf("%d concurrent requests failed:\n%s", n, &errs)
	}
	lines = waitAccessLog(t, path, 20+clients*each)
	seen := map[string]int{}
	for _, l := range lines[20:] {
		f := strings.Fields(strings.TrimPrefix(l.request, "GET /pid?id="))
		if len(f) != 2 || f[1] != "HTTP/1.1" {
			t.Errorf("request %q in the access log", l.request)
			continue
		}
		id := f[0]
		seen[id]++
		if l.agent != "agent "+id+" "+long || l.referer != "http://example.com/"+id || l.status != "200" {
			t.Errorf("access line for %s has agent %.40q..., referer %q, status %s", id, l.agent, l.referer, l.status)
		}
	}
	for c := range clients {
		for i := range each {
			if id := fmt.Sprintf("%d-%d", c, i); seen[id] != 1 {
				t.Errorf("request %s logged %d times", id, seen[id])
			}
		}
	}
	s.stop(t)
}

// -E sets the environment the app sees as $STARLIGHT_ENV; without -E,
// the master's own $STARLIGHT_ENV does.
func TestEnvOption(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"production", []string{"-E", "production"}, nil, "production"},
		{"long-option", []string{"--env=staging"}, nil, "staging"},
		{"default", nil, nil, "development"},
		{"from-environment", nil, []string{"STARLIGHT_ENV=staging"}, "staging"},
		{"option-over-environment", []string{"-E", "production"}, []string{"STARLIGHT_ENV=staging"}, "production"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, options{args: append([]string{"--workers", "2"}, tc.args...), env: tc.env, ready: 2})
			for range 4 {
				code, body, err := s.get(s.client, "/env")
				if err != nil || code != http.StatusOK || body != tc.want+"\n" {
					t.Fatalf("GET /env: %d %q %v, want %q", code, body, err, tc.want)
				}
			}
			s.stop(t)
		})
	}
}

// SIGUSR1 reopens the access log: after logrotate renames the file, new
// lines go to a new file of the old name.
func TestAccessLogReopenedOnUSR1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	s := start(t, options{args: []string{"--workers", "2", "--access-log", path}, ready: 2})
	for range 3 {
		if _, _, err := s.whoami(s.client); err != nil {
			t.Fatal(err)
		}
	}
	waitAccessLog(t, path, 3)
	rotated := filepath.Join(dir, "access.log.1")
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	s.signal(t, syscall.SIGUSR1)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: log files reopened`))
	for range 5 {
		if _, _, err := s.whoami(s.client); err != nil {
			t.Fatal(err)
		}
	}
	waitAccessLog(t, path, 5)
	if lines, bad := readAccessLog(t, rotated); len(lines) != 3 || len(bad) > 0 {
		t.Errorf("the rotated file has %d lines (%d broken), want the 3 from before", len(lines)+len(bad), len(bad))
	}

	// A log whose directory is gone cannot be reopened: the log says so,
	// and not that it was reopened.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	reopened := s.count(regexp.MustCompile(`starlight: log files reopened`))
	s.signal(t, syscall.SIGUSR1)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: reopen `+regexp.QuoteMeta(path)+`: .*no such file or directory; the file open before stays in use$`))
	if n := s.count(regexp.MustCompile(`starlight: log files reopened`)); n != reopened {
		t.Errorf("the log says the log files were reopened, though the access log could not be")
	}
	s.stop(t)
}

// SIGUSR1 without log files has nothing to reopen, and says so.
func TestUSR1WithoutLogFiles(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--workers", "1"}, ready: 1})
	s.signal(t, syscall.SIGUSR1)
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: no log file to reopen \(--error-log, --access-log\)$`))
	s.stop(t)
}

// A line longer than the master's 64 KiB pipe buffer (a hostile User-Agent
// of quotes doubles in size once escaped) must still reach the access log
// whole, not cut in pieces with other workers' lines in between.
func TestAccessLogHugeLinesStayWhole(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "access.log")
	// A 40 KB field line is over --limit-request-field-size's default.
	s := start(t, options{args: []string{"--workers", "4", "--access-log", path, "--limit-request-field-size", "0"}, ready: 4})
	huge := strings.Repeat(`"`, 40000) // 80 KB in the log
	const clients, each = 8, 10
	var wg sync.WaitGroup
	var errs errList
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				req, _ := http.NewRequest("GET", s.url(fmt.Sprintf("/pid?id=%d-%d", c, i)), nil)
				if c%2 == 0 {
					req.Header.Set("User-Agent", huge)
				}
				doOK(s.client, req, &errs)
			}
		})
	}
	wg.Wait()
	if n := errs.count(); n > 0 {
		t.Fatalf("%d requests failed:\n%s", n, &errs)
	}
	lines := waitAccessLog(t, path, clients*each)
	for _, l := range lines {
		var c, i int
		if _, err := fmt.Sscanf(l.request, "GET /pid?id=%d-%d HTTP/1.1", &c, &i); err != nil {
			t.Errorf("request %.80q in the access log", l.request)
		} else if c%2 == 0 && l.agent != huge {
			t.Errorf("request %d-%d logged with a user agent of %d bytes, want %d", c, i, len(l.agent), len(huge))
		}
	}
	s.stop(t)
}

// doOK sends req and adds to errs unless it is answered 200.
func doOK(c *http.Client, req *http.Request, errs *errList) {
	resp, err := c.Do(req)
	if err != nil {
		errs.add("%v", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		errs.add("status %d", resp.StatusCode)
	}
}

// Run by hand, the app serves alone on a unix socket given with
// --listen, as starlight's --listen takes one, and removes it at exit.
func TestAppByHandOnUnixSocket(t *testing.T) {
	t.Parallel()
	app := testApp(t)
	sock := filepath.Join(t.TempDir(), "alone.sock")
	s := startArgv(t, app, []string{app, "--listen=" + sock}, nil)
	c := unixHTTP(sock)
	var body string
	eventually(t, startTimeout, "the app answers on "+sock, func() bool {
		resp, err := c.Get("http://unix/pid")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if pid := pidOf(body); pid != s.pid {
		t.Errorf("GET /pid: %q, want the app's own pid %d", body, s.pid)
	}
	if want := "serving unix:" + sock + " in one process"; !strings.Contains(s.stderr.String(), want) {
		t.Errorf("stderr %q does not say %q", s.stderr, want)
	}
	s.signal(t, syscall.SIGTERM)
	if code := s.wait(t, stopTimeout); code != 0 {
		t.Errorf("exit status %d (%s) after SIGTERM, want 0", code, s.exitDesc)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Errorf("%s left after the app exited", sock)
	}
}
