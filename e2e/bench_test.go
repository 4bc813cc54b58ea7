package e2e

import (
	"context"
	"math/rand/v2"
	"net"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// bench/run in its shortest form (1 s per run, three scenarios) prints the
// table it documents: a row per scenario and mode with a ratio to plain
// net/http, no failed request, then idle memory and the time to the first
// 200. Not a speed test: only the report is checked. It runs alone (not in
// parallel), and never writes bench/RESULTS.md.
func TestBenchRunPrintsItsTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "bench/run")
	cmd.Dir = ".."
	cmd.Env = childEnv("DURATION=1", "ROUNDS=1", "BENCH_ONLY=plain sl-2 reuse", "BENCH_MODES=keepalive close",
		"QUIET_WAIT=0", "BENCH_PORT="+itoa(freePortBlock(t, 40)))
	var stderr syncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench/run: %v\n%s", err, stderr.String())
	}
	report := string(out)
	row := regexp.MustCompile(`(?m)^\| (keepalive|close) \| (.+?) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \| ([\d.]+)× \|$`)
	rows := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(report, -1) {
		rows[m[1]+"/"+m[2]] = m[7]
		if m[6] != "0" {
			t.Errorf("%s %s: %s errors", m[1], m[2], m[6])
		}
	}
	for _, mode := range []string{"keepalive", "close"} {
		for _, s := range []string{"plain net/http (one process, GOMAXPROCS", "starlight --quiet, 2 workers", "starlight --quiet, 2 workers, --reuse-port"} {
			found := false
			for k, ratio := range rows {
				if strings.HasPrefix(k, mode+"/"+s) && (!strings.HasPrefix(s, "plain") || ratio == "1.00") {
					found = true
				}
			}
			if !found {
				t.Errorf("no %s row for %q (plain at 1.00×) in:\n%s\nbench/run's log:\n%s", mode, s, report, stderr.String())
			}
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\| starlight, 2 workers, after 1 request \| 3 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+ \|$`),
		regexp.MustCompile(`(?m)^Start to first 200 .*: median \d+ ms`),
	} {
		if !want.MatchString(report) {
			t.Errorf("report lacks %s:\n%s", want, report)
		}
	}
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
