package e2e

import (
	"context"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bench/run in its shortest form (1 s per run, three scenarios) prints the
// table it documents: a row per scenario and mode with a ratio to plain
// net/http, no failed request, then idle memory and the time to the first
// 200. Not a speed test: only the report is checked. It runs alone (not in
// parallel), and never writes bench/RESULTS.md.
func TestBenchRunPrintsItsTable(t *testing.T) {
	report, log := runBench(t, "DURATION=1", "BENCH_ONLY=plain sl-2 reuse", "BENCH_MODES=keepalive close")
	rows := benchRows(t, report)
	for _, mode := range []string{"keepalive", "close"} {
		for _, s := range []string{"plain net/http (one process, GOMAXPROCS", "starlight --quiet, 2 workers", "starlight --quiet, 2 workers, --reuse-port"} {
			if !hasRow(rows, mode, s) {
				t.Errorf("no %s row for %q (plain at 1.00×) in:\n%s\nbench/run's log:\n%s", mode, s, report, log)
			}
		}
	}
	for _, want := range []*regexp.Regexp{
		// bench/cpu's rows: µs per request (its rounds), 0 failed, req/s.
		regexp.MustCompile(`(?m)^\| keepalive \| work tree \([0-9a-f]+(, modified)?\) \| [\d.]+ \([\d. ]+\) \| 0 \| [\d.]+ \|$`),
		regexp.MustCompile(`(?m)^\| close \| work tree \([0-9a-f]+(, modified)?\) \| [\d.]+ \([\d. ]+\) \| 0 \| [\d.]+ \|$`),
		regexp.MustCompile(`(?m)^\| starlight, 2 workers, after 1 request \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$`),
		regexp.MustCompile(`(?m)^Start to first 200 .*: median \d+ ms`),
	} {
		if !want.MatchString(report) {
			t.Errorf("report lacks %s:\n%s", want, report)
		}
	}
}

// The scenarios only a full run has, in both modes: nproc workers, the dashboard and
// --quiet in a tmux pane, recycling, two SIGHUPs and a rebuild under load,
// each with its row, no failed request, the two ratios of the second table
// and the notes that say what happened; and --write, which replaces only
// the part of the results file between its markers.
func TestBenchRunEveryScenario(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	results := filepath.Join(t.TempDir(), "RESULTS.md")
	before := "# Results\n\nkept above\n<!-- bench/run:begin -->\nold table\n<!-- bench/run:end -->\nkept below\n"
	if err := os.WriteFile(results, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	report, log := runBench(t, "DURATION=2", "BENCH_ONLY=plain sl-N tty-q tty reqs-1000 reqs-inf hup reload",
		"BENCH_MODES=keepalive close", "BENCH_RESULTS="+results, "--write")
	rows := benchRows(t, report)
	modes := []string{"keepalive", "close"}
	for _, s := range []string{
		"plain net/http (one process, GOMAXPROCS",
		"starlight --quiet, " + itoa(runtime.NumCPU()) + " workers (nproc)",
		"starlight --quiet in a tmux pane, 2 workers",
		"starlight with its dashboard in a tmux pane, 2 workers",
		"2 workers, --max-reqs-per-child 1000",
		"2 workers, --max-reqs-per-child inf",
		"2 workers, SIGHUP twice during the run",
		"2 workers, -r, a .go file edited during the run",
	} {
		for _, mode := range modes {
			if !hasRow(rows, mode, s) {
				t.Errorf("no %s row for %q in:\n%s\nbench/run's log:\n%s", mode, s, report, log)
			}
		}
	}
	wants := []*regexp.Regexp{regexp.MustCompile(`(?m)^- tty: the dashboard was on screen during the run`)}
	for _, mode := range modes {
		wants = append(wants,
			regexp.MustCompile(`(?m)^\| `+mode+` \| \d\.\d{3} \| \d\.\d{3} \|$`),
			regexp.MustCompile(`(?m)^- hup \(`+mode+`\): 2 SIGHUPs sent, (2 reloads finished|1 reload finished \(the second SIGHUP came before the first reload had finished, and replaced it\)); generation 3 serves on every worker\.$`),
			regexp.MustCompile(`(?m)^- reload \(`+mode+`\): one \.go file edited at [\d.]+ s in each of 1 runs; the master rebuilt it .* in \d+-\d+ ms after the edit, and generation 2 served on every worker \d+-\d+ ms after the build\.`))
	}
	for _, want := range wants {
		if !want.MatchString(report) {
			t.Errorf("report lacks %s:\n%s\nbench/run's log:\n%s", want, report, log)
		}
	}
	written, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	want := "# Results\n\nkept above\n<!-- bench/run:begin -->\n" + report + "<!-- bench/run:end -->\nkept below\n"
	if !strings.Contains(report, "Machine: ") || string(written) != want {
		t.Errorf("--write wrote:\n%s\nwant:\n%s", written, want)
	}
}

// runBench runs bench/run with the environment given (and "--write" as an
// argument if given), on a block of free ports, without waiting for an idle
// machine, and returns its report and its log.
func runBench(t *testing.T, settings ...string) (report, log string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var args, env []string
	for _, s := range settings {
		if strings.HasPrefix(s, "--") {
			args = append(args, s)
		} else {
			env = append(env, s)
		}
	}
	cmd := exec.CommandContext(ctx, "bash", append([]string{"bench/run"}, args...)...)
	cmd.Dir = ".."
	// Out of time: TERM to bench/run's whole process group (its servers,
	// wrk, bench/cpu), so that everything it started stops (a KILL of
	// bench/run alone would leave them running).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	// bench/cpu in its shortest form too: one round of 2,000 requests.
	ports := freePortBlock(t, 50) // 40 for bench/run's servers, 10 for bench/cpu's
	cmd.Env = childEnv(append([]string{"ROUNDS=1", "QUIET_WAIT=0", "BENCH_PORT=" + itoa(ports),
		"CPU_ROUNDS=1", "CPU_REQS=2000", "CPU_PORT=" + itoa(ports+40)}, env...)...)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench/run: %v\n%s", err, stderr.String())
	}
	return string(out), stderr.String()
}

// benchRows maps "mode/scenario" to the ratio of each row of the report's
// main table, and fails the test for a row with errors.
func benchRows(t *testing.T, report string) map[string]string {
	t.Helper()
	row := regexp.MustCompile(`(?m)^\| (keepalive|close) \| (.+?) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| ([\d.]+)× \|$`)
	rows := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(report, -1) {
		rows[m[1]+"/"+m[2]] = m[7]
		if m[6] != "0" {
			t.Errorf("%s %s: %s errors; the report's notes:\n%s", m[1], m[2], m[6], notesOf(report))
		}
	}
	return rows
}

// notesOf is the report's notes (its "- " lines).
func notesOf(report string) string {
	var notes []string
	for _, l := range strings.Split(report, "\n") {
		if strings.HasPrefix(l, "- ") {
			notes = append(notes, l)
		}
	}
	return strings.Join(notes, "\n")
}

// hasRow reports whether rows has a row of the mode whose scenario starts
// with prefix; plain net/http's must have the ratio 1.00.
func hasRow(rows map[string]string, mode, prefix string) bool {
	for k, ratio := range rows {
		if strings.HasPrefix(k, mode+"/"+prefix) && (!strings.HasPrefix(prefix, "plain") || ratio == "1.00") {
			return true
		}
	}
	return false
}

// freePortBlock returns the first of n consecutive TCP ports on 127.0.0.1
// that were free a moment ago, below Linux's ephemeral range (32768 and
// up), where the client ends of other connections cannot take one of them
// meanwhile.
func freePortBlock(t *testing.T, n int) int {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(12000)
		var held []net.Listener
		for p := base; p < base+n; p++ {
			ln, err := net.Listen("tcp4", "127.0.0.1:"+itoa(p))
			if err != nil {
				break
			}
			held = append(held, ln)
		}
		for _, ln := range held {
			ln.Close()
		}
		if len(held) == n {
			return base
		}
	}
	t.Fatalf("no %d free consecutive ports found between 20000 and 32768", n)
	return 0
}
