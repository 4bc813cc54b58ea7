package httpserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/starlight-go/starlight/internal/strictcases"
)

// scanAll scans raw in pieces of size n (all at once when n <= 0) and
// returns the rule broken, if any, and how many bytes went to net/http.
func scanAll(lim limits, raw string, n int) (rule, int) {
	sc := newScanner(lim)
	passed := 0
	for len(raw) > 0 {
		k := len(raw)
		if n > 0 && n < k {
			k = n
		}
		v := sc.scan([]byte(raw[:k]))
		if v.rule != ruleNone {
			return v.rule, passed + v.cut
		}
		passed += k
		raw = raw[k:]
	}
	return ruleNone, passed
}

func TestScannerRefusesBads(t *testing.T) {
	for _, tc := range strictcases.Bads {
		t.Run(tc.Name, func(t *testing.T) {
			for _, n := range []int{0, 1, 2, 3, 7, 64} {
				r, _ := scanAll(defaultLimits, tc.Raw, n)
				if r.String() != tc.Rule || rules[r].status != tc.Status {
					t.Fatalf("in pieces of %d: refused for %q (%d), want %q (%d)", n, r, rules[r].status, tc.Rule, tc.Status)
				}
			}
			// Behind a valid request, in one read: that request goes to
			// net/http whole, nothing of this one.
			valid := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
			r, passed := scanAll(defaultLimits, valid+tc.Raw, 0)
			if r.String() != tc.Rule || passed != len(valid) {
				t.Fatalf("pipelined: refused for %q after %d bytes, want %q after %d", r, passed, tc.Rule, len(valid))
			}
			// Split anywhere: net/http never gets the whole head of it.
			for cut := 1; cut < len(tc.Raw); cut++ {
				sc := newScanner(defaultLimits)
				v1 := sc.scan([]byte(tc.Raw[:cut]))
				var v verdict
				if v1.rule != ruleNone {
					v = v1
				} else {
					v = sc.scan([]byte(tc.Raw[cut:]))
					v.cut += cut
				}
				if v.rule.String() != tc.Rule {
					t.Fatalf("split at %d: refused for %q, want %q", cut, v.rule, tc.Rule)
				}
				if !v.body {
					assertNoWholeHead(t, tc.Raw[:v.cut])
				}
			}
		})
	}
}

// assertNoWholeHead fails if net/http could read a request from passed.
func assertNoWholeHead(t *testing.T, passed string) {
	t.Helper()
	if _, err := http.ReadRequest(bufio.NewReader(strings.NewReader(passed))); err == nil {
		t.Fatalf("net/http reads a request from the %d bytes let through: %q", len(passed), passed)
	}
}

func TestScannerServesGoods(t *testing.T) {
	for _, tc := range strictcases.Goods {
		t.Run(tc.Name, func(t *testing.T) {
			for _, n := range []int{0, 1, 5, 1000} {
				if r, _ := scanAll(defaultLimits, tc.Raw, n); r != ruleNone {
					t.Fatalf("in pieces of %d: refused for %q", n, r)
				}
			}
			checkFraming(t, []byte(tc.Raw))
		})
	}
}

// The limits apply as set; 0 is unlimited.
func TestScannerLimits(t *testing.T) {
	for _, tc := range []struct {
		lim  limits
		raw  string
		want rule
	}{
		{limits{line: 100}, strictcases.LongTarget(100), ruleNone},
		{limits{line: 100}, strictcases.LongTarget(101), ruleLineTooLong},
		{limits{}, strictcases.LongTarget(20000), ruleNone},
		{limits{fields: 3}, strictcases.Fields(3), ruleNone},
		{limits{fields: 3}, strictcases.Fields(4), ruleTooManyFields},
		{limits{}, strictcases.Fields(5000), ruleNone},
		{limits{fieldSize: 50}, strictcases.FieldLine("X-A", 50), ruleNone},
		{limits{fieldSize: 50}, strictcases.FieldLine("X-A", 51), ruleFieldTooLarge},
		{limits{}, strictcases.FieldLine("X-A", 40000), ruleNone},
		{limits{fields: 2}, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\n\r\n", ruleNone},
		{limits{fields: 2}, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", ruleTooManyFields},
		{limits{fieldSize: 10}, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nA: 12345678\r\n\r\n", ruleFieldTooLarge},
	} {
		for _, n := range []int{0, 1} {
			if r, _ := scanAll(tc.lim, tc.raw, n); r != tc.want {
				t.Errorf("%+v, %.40q... in pieces of %d: %q, want %q", tc.lim, tc.raw, n, r, tc.want)
			}
		}
	}
}

// checkFraming scans raw one byte at a time, noting where each message
// ends, and checks that net/http finds the same ends for the requests it
// reads. It stops at the first refusal, and where the scanner stops
// looking (an upgrade).
func checkFraming(t *testing.T, raw []byte) {
	t.Helper()
	sc := newScanner(defaultLimits)
	var ends []int
	limit := len(raw)
	for i := range raw {
		if sc.st == stPass {
			limit = i
			break
		}
		v := sc.scan(raw[i : i+1])
		if v.rule != ruleNone {
			limit = i
			break
		}
		if int(sc.msgs) > len(ends) {
			ends = append(ends, i+1)
		}
	}
	cr := &countingReader{r: strings.NewReader(string(raw))}
	br := bufio.NewReader(cr)
	for k := 0; ; k++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Method == "CONNECT" || req.Header.Get("Upgrade") != "" {
			return
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			return
		}
		end := cr.n - br.Buffered()
		if end > limit {
			return // past what the scanner let through
		}
		if k >= len(ends) {
			t.Fatalf("net/http reads request %d ending at byte %d; the scanner saw %d messages (ends %v)", k+1, end, len(ends), ends)
		}
		if ends[k] != end {
			t.Fatalf("request %d ends at byte %d for net/http, at %d for the scanner", k+1, end, ends[k])
		}
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Every rule has a status and says what it is, for the log and the README.
func TestRulesDescribed(t *testing.T) {
	for r := ruleNone + 1; r < numRules; r++ {
		if rules[r].status < 400 || rules[r].text == "" || !strings.HasPrefix(rules[r].rfc, "RFC ") {
			t.Errorf("rule %d: %+v", r, rules[r])
		}
		if !strings.HasPrefix(string(refusalResponses[r]), "HTTP/1.1 ") {
			t.Errorf("rule %d: answer %q", r, refusalResponses[r])
		}
	}
}

// docs/http.md's "What Starlight refuses" lists every rule with its
// status and RFC section.
func TestDocsListRules(t *testing.T) {
	b, err := os.ReadFile("../docs/http.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "## What Starlight refuses")
	if i < 0 {
		t.Fatal(`docs/http.md: no "What Starlight refuses" section`)
	}
	section := doc[i:]
	if j := strings.Index(section[3:], "\n## "); j >= 0 {
		section = section[:j+3]
	}
	for r := ruleNone + 1; r < numRules; r++ {
		info := rules[r]
		found := false
		for _, line := range strings.Split(section, "\n") {
			if strings.HasPrefix(line, "| "+info.text) && strings.Contains(line, fmt.Sprintf("| %d | %s |", info.status, info.rfc)) {
				found = true
			}
		}
		if !found {
			t.Errorf("docs/http.md: no row for %q (%d, %s)", info.text, info.status, info.rfc)
		}
	}
}

// plainRun counts the plain bytes before the first control character or
// DEL, wherever it is in the word, and stops before a partial word.
func TestPlainRun(t *testing.T) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		plain := b >= 0x20 && b != 0x7f
		for pos := 0; pos < 16; pos++ {
			p := []byte("abcdefghABCDEFGHxyz")
			p[pos] = b
			want := pos
			if plain {
				want = 16
			}
			if got := plainRun(p); got != want {
				t.Fatalf("byte %#x at %d: %d, want %d", b, pos, got, want)
			}
		}
	}
}

// What the scanner costs a request: ab's HTTP/1.0 keep-alive request and
// wrk's.
func BenchmarkScanner(b *testing.B) {
	for _, tc := range []struct{ name, req string }{
		{"ab", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: 127.0.0.1:18555\r\nUser-Agent: ApacheBench/2.3\r\nAccept: */*\r\n\r\n"},
		{"wrk", "GET / HTTP/1.1\r\nHost: 127.0.0.1:18401\r\n\r\n"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := []byte(tc.req)
			sc := newScanner(defaultLimits)
			b.SetBytes(int64(len(req)))
			b.ReportAllocs()
			for b.Loop() {
				if v := sc.scan(req); v.rule != ruleNone {
					b.Fatal(v.rule)
				}
			}
		})
	}
}

// benchServeLenient serves as a worker does but without the scanner (the
// listener net/http gets is the bare one), to measure what the scanner
// costs a request.
func benchServeLenient(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	s := benchServer(b, benchHello, false)
	go s.tracker.run(s.set.timeout, s.set.keepaliveTimeout)
	go s.srv.Serve(ln)
	b.Cleanup(func() {
		s.srv.Close()
		close(s.tracker.stop)
	})
	return ln.Addr().String()
}

// BenchmarkStrictLoopback is BenchmarkLoopbackKeepalive and
// BenchmarkLoopbackClose for the worker with and without the scanner.
func BenchmarkStrictLoopback(b *testing.B) {
	for _, strict := range []bool{false, true} {
		name := "lenient"
		serve := benchServeLenient
		if strict {
			name = "strict"
			serve = func(b *testing.B) string { return benchServe(b, true) }
		}
		b.Run("keepalive/"+name, func(b *testing.B) {
			c, err := net.Dial("tcp", serve(b))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			benchRoundTrip(b, c, br, benchReq)
			b.ReportAllocs()
			for b.Loop() {
				benchRoundTrip(b, c, br, benchReq)
			}
		})
		b.Run("close/"+name, func(b *testing.B) {
			addr := serve(b)
			br := bufio.NewReaderSize(nil, 4096)
			b.ReportAllocs()
			for b.Loop() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				br.Reset(c)
				benchRoundTrip(b, c, br, benchReqClose)
				c.Close()
			}
		})
	}
}
