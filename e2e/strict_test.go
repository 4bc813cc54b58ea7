package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/strictcases"
)

// rawConn is one connection of a test that speaks HTTP/1.1 by hand.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(requestTimeout))
	return &rawConn{t, c, bufio.NewReader(c)}
}

// send writes raw in pieces: whole when pieces <= 1, else in that many
// writes a couple of milliseconds apart, so that they leave as separate
// TCP segments (a pace, not a wait for anything).
func (r *rawConn) send(raw string, pieces int) {
	r.t.Helper()
	if pieces <= 1 || len(raw) < pieces {
		if _, err := io.WriteString(r.c, raw); err != nil {
			r.t.Fatal(err)
		}
		return
	}
	step := len(raw) / pieces
	for i := 0; i < pieces; i++ {
		end := (i + 1) * step
		if i == pieces-1 {
			end = len(raw)
		}
		if _, err := io.WriteString(r.c, raw[i*step:end]); err != nil {
			r.t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// response reads the next final response (1xx skipped) and its body; nil
// when the connection ends first.
func (r *rawConn) response(method string) (*http.Response, string) {
	for {
		resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
		if err != nil {
			return nil, ""
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			r.t.Fatalf("reading a %d response's body: %v", resp.StatusCode, err)
		}
		if resp.StatusCode >= 200 {
			return resp, string(b)
		}
	}
}

// closed reports whether the server closed the connection (EOF or a
// reset) with nothing more to read.
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.br.ReadByte()
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// expectedDumps is what /echo answers for each request in raw, read by
// net/http alone.
func expectedDumps(t *testing.T, raw string) (dumps []string, methods []string) {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	for {
		req, err := http.ReadRequest(br)
		if err == io.EOF {
			return dumps, methods
		}
		if err != nil {
			t.Fatalf("net/http does not read the valid request %d: %v", len(dumps)+1, err)
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			t.Fatal(err)
		}
		dumps = append(dumps, strictcases.Dump(req, body))
		methods = append(methods, req.Method)
	}
}

const validGET = "GET /echo/first HTTP/1.1\r\nHost: x\r\n\r\n"

// Every malformed request of the table is refused with its status and a
// closed connection, alone, sent in pieces, and behind a valid request
// that is served first; every one gets an access-log line; the app never
// sees one.
func TestStrictRefusals(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	s := start(t, options{args: []string{"--workers", "2", "--max-keepalive-reqs", "100", "--access-log", logPath}, ready: 2})
	refused := 0
	for _, tc := range strictcases.Bads {
		t.Run(tc.Name, func(t *testing.T) {
			for _, v := range []struct {
				name      string
				pieces    int
				pipelined bool
			}{{"whole", 1, false}, {"in 3 segments", 3, false}, {"behind a valid request", 1, true}} {
				c := dialRaw(t, s.addr)
				raw := tc.Raw
				if v.pipelined {
					raw = validGET + raw
				}
				c.send(raw, v.pieces)
				if v.pipelined {
					resp, body := c.response("GET")
					if resp == nil || resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /echo/first ") {
						t.Fatalf("%s: the valid request before it: %v %q", v.name, resp, body)
					}
				}
				resp, body := c.response("GET")
				refused++
				if resp == nil {
					t.Fatalf("%s: no answer", v.name)
				}
				want := fmt.Sprintf("%d %s: %s\n", tc.Status, http.StatusText(tc.Status), tc.Rule)
				if v.pieces > 1 && strings.HasPrefix(body, "reading the body: ") && strings.HasPrefix(tc.Raw, "POST /echo/chunked ") {
					// Chunked framing that came after the head: the app
					// had the head, and reading the body failed (with
					// the rule, or with net/http's word for it).
					want = body
				}
				if resp.StatusCode != tc.Status || body != want {
					t.Fatalf("%s: %d %q, want %d %q", v.name, resp.StatusCode, body, tc.Status, want)
				}
				if !resp.Close {
					t.Errorf("%s: no Connection: close", v.name)
				}
				if !c.closed() {
					t.Errorf("%s: connection left open", v.name)
				}
			}
		})
	}
	// The log lines: one per refusal with its status, and the valid
	// requests before them; no line of the app's for a refused request.
	lines := waitAccessLog(t, logPath, refused+len(strictcases.Bads))
	statuses := map[string]int{}
	for _, l := range lines {
		statuses[l.status]++
		if l.status == "200" && l.request != "GET /echo/first HTTP/1.1" {
			t.Errorf("the app served %q", l.request)
		}
	}
	if statuses["200"] != len(strictcases.Bads) {
		t.Errorf("%d lines with status 200, want %d (the valid requests)", statuses["200"], len(strictcases.Bads))
	}
	if got := s.count(regexp.MustCompile(`starlight: request refused: `)); got == 0 {
		t.Error("no refusal in the error log")
	}
}

// The smuggling: with keep-alive on, an HTTP/1.0 request with
// Transfer-Encoding and Content-Length hides a second request in its
// body. It is refused, and the hidden request is never served.
func TestStrictNoSmugglingThroughHTTP10(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "access.log")
	s := start(t, options{args: []string{"--workers", "1", "--max-keepalive-reqs", "100", "--access-log", logPath}, ready: 1})
	c := dialRaw(t, s.addr)
	c.send("POST /echo/outer HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\nGET /echo/hidden HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	resp, body := c.response("POST")
	if resp == nil || resp.StatusCode != 400 || !strings.Contains(body, "Content-Length with Transfer-Encoding") {
		t.Fatalf("answered %v %q", resp, body)
	}
	if next, body := c.response("GET"); next != nil {
		t.Fatalf("a second answer: %d %q", next.StatusCode, body)
	}
	lines := waitAccessLog(t, logPath, 1)
	if lines[0].status != "400" || lines[0].request != "POST /echo/outer HTTP/1.0" || lines[0].size != "-" {
		t.Fatalf("access log: %+v", lines[0])
	}
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: request refused: Content-Length with Transfer-Encoding \(400, from 127\.0\.0\.1:\d+\)`))
}

// Every valid request of the table is served, and the app sees exactly
// what net/http alone reads from the bytes: whole, in pieces, and
// pipelined behind another.
func TestStrictServesValid(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "2", "--max-keepalive-reqs", "100"}, ready: 2})
	for _, tc := range strictcases.Goods {
		t.Run(tc.Name, func(t *testing.T) {
			for _, v := range []struct {
				name      string
				pieces    int
				pipelined bool
			}{{"whole", 1, false}, {"in 3 segments", 3, false}, {"behind a valid request", 1, true}} {
				raw := tc.Raw
				if v.pipelined {
					raw = validGET + raw
				}
				want, methods := expectedDumps(t, raw)
				c := dialRaw(t, s.addr)
				c.send(raw, v.pieces)
				for i, w := range want {
					resp, body := c.response(methods[i])
					if resp == nil {
						t.Fatalf("%s: no answer to request %d of %d", v.name, i+1, len(want))
					}
					if tc.Status != 0 && i == len(want)-1 {
						if resp.StatusCode != tc.Status {
							t.Fatalf("%s: %d %q, want %d", v.name, resp.StatusCode, body, tc.Status)
						}
						continue
					}
					if resp.StatusCode != 200 || body != w {
						t.Fatalf("%s: request %d answered %d:\n%s\nwant:\n%s", v.name, i+1, resp.StatusCode, body, w)
					}
				}
			}
		})
	}
}

// Each limit applies as set, and 0 lifts it (the 48 KiB cap stays).
func TestStrictLimitOptions(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "1", "--limit-request-line", "100", "--limit-request-fields", "5", "--limit-request-field-size", "50"}, ready: 1})
	u := start(t, options{args: []string{"--workers", "1", "--limit-request-line", "0", "--limit-request-field-size", "0"}, ready: 1})
	for _, tc := range []struct {
		s    *server
		raw  string
		want int
	}{
		{s, strictcases.LongTarget(100), 200},
		{s, strictcases.LongTarget(101), 414},
		{s, strictcases.Fields(5), 200},
		{s, strictcases.Fields(6), 431},
		{s, strictcases.FieldLine("X-A", 50), 200},
		{s, strictcases.FieldLine("X-A", 51), 431},
		{u, strictcases.LongTarget(8000), 200},
		{u, strictcases.FieldLine("X-A", 40000), 200},
		{u, strictcases.FieldLine("X-A", 50000), 431}, // over 48 KiB in all
		{u, strictcases.Fields(100), 200},
		{u, strictcases.Fields(101), 431},
	} {
		c := dialRaw(t, tc.s.addr)
		c.send(tc.raw, 1)
		resp, body := c.response("GET")
		if resp == nil || resp.StatusCode != tc.want {
			t.Errorf("%.50q...: %v %.80q, want %d", tc.raw, resp, body, tc.want)
		}
	}
}

// Refusals are logged one line each at a bounded pace: over 10 a second,
// the next line logged says how many were not.
func TestStrictRefusalLogPace(t *testing.T) {
	s := start(t, options{args: []string{"--workers", "1"}, ready: 1})
	refuse := func(raw string) {
		c := dialRaw(t, s.addr)
		c.send(raw, 1)
		if resp, _ := c.response("GET"); resp == nil || resp.StatusCode < 400 {
			t.Fatalf("%q not refused", raw)
		}
	}
	// Start a second afresh, then 30 refusals within it.
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second).Sub(now))
	start := time.Now().Unix()
	for range 30 {
		refuse("GET * HTTP/1.1\r\nHost: x\r\n\r\n")
	}
	if time.Now().Unix() != start {
		t.Skip("30 refusals took more than the second they started in; the pace cannot be checked")
	}
	reLine := regexp.MustCompile(`request refused: asterisk-form target for a method other than OPTIONS \(400, from `)
	s.waitLogN(t, 5*time.Second, reLine, 10)
	// The next second: one more line, counting the 20 not logged.
	for time.Now().Unix() == start {
		time.Sleep(10 * time.Millisecond)
	}
	refuse("GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`request refused: more than one Host \(400, from [^)]*\); 20 more refused before, not logged`))
	if n := s.count(reLine); n != 10 {
		t.Errorf("%d lines for 30 refusals in one second, want 10", n)
	}
}

// A response never offers keep-alive on a connection the server closes:
// with keep-alive off (the default), on the last request of
// --max-keepalive-reqs, and on a worker's last request before it is
// recycled.
func TestKeepAliveAnswersTellTheTruth(t *testing.T) {
	req10 := "GET /pid HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	for _, tc := range []struct {
		name  string
		args  []string
		sends int // HTTP/1.0 keep-alive requests on one connection
		keep  int // answered with keep-alive before the one that closes
	}{
		{"keep-alive off", []string{"--workers", "1"}, 2, 0},
		{"--max-keepalive-reqs 3", []string{"--workers", "1", "--max-keepalive-reqs", "3"}, 4, 2},
		{"--max-reqs-per-child 2", []string{"--workers", "1", "--max-keepalive-reqs", "100", "--max-reqs-per-child", "2"}, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, options{args: tc.args, ready: 1})
			c := dialRaw(t, s.addr)
			c.send(strings.Repeat(req10, tc.sends), 1)
			for i := 0; i <= tc.keep; i++ {
				resp, _ := c.response("GET")
				if resp == nil {
					t.Fatalf("no answer to request %d", i+1)
				}
				conn := resp.Header.Get("Connection")
				if i < tc.keep && (conn != "keep-alive" || resp.Close) {
					t.Fatalf("answer %d: Connection %q, want keep-alive", i+1, conn)
				}
				if i == tc.keep && (conn == "keep-alive" || !resp.Close) {
					t.Fatalf("answer %d: Connection %q, want close", i+1, conn)
				}
			}
			if !c.closed() {
				t.Fatal("connection left open after Connection: close")
			}
		})
	}
}

// ab (apache2-utils) speaks HTTP/1.0 and believes a keep-alive answer: it
// stopped with "Connection reset by peer" after about 400 requests when
// starlight said keep-alive and closed. Both ab and ab -k run clean, with
// keep-alive off and on.
func TestApacheBench(t *testing.T) {
	ab, err := exec.LookPath("ab")
	if err != nil {
		t.Skip("ab is not installed (apt-get install apache2-utils; .ci/run installs it)")
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"keep-alive off", []string{"--workers", "2"}},
		{"keep-alive on", []string{"--workers", "2", "--max-keepalive-reqs", "100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := start(t, options{args: tc.args, ready: 2})
			for _, k := range []bool{true, false} {
				args := []string{"-n", "2000", "-c", "10", "-s", "10"}
				if k {
					args = append(args, "-k")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				out, err := exec.CommandContext(ctx, ab, append(args, s.url("/pid"))...).CombinedOutput()
				cancel()
				text := string(out)
				if err != nil {
					t.Fatalf("ab %v: %v\n%s", args, err, text)
				}
				for _, want := range []string{"Complete requests:      2000", "Failed requests:        0"} {
					if !strings.Contains(text, want) {
						t.Fatalf("ab %v: no %q in:\n%s", args, want, text)
					}
				}
				m := regexp.MustCompile(`Keep-Alive requests:\s+(\d+)`).FindStringSubmatch(text)
				kept := 0
				if m != nil {
					kept, _ = strconv.Atoi(m[1])
				}
				if k && len(tc.args) > 2 && kept < 1000 {
					t.Errorf("ab -k with keep-alive on: %d requests on kept connections", kept)
				}
				if (!k || len(tc.args) == 2) && kept != 0 {
					t.Errorf("ab %v: %d requests on kept connections, want none", args, kept)
				}
			}
		})
	}
}

// The app run by hand (one process, no master) refuses the same requests,
// with gunicorn's default limits; with --max-workers 0 (the app in the
// master's place) it takes the limits from the options.
func TestStrictWithoutWorkers(t *testing.T) {
	app := testApp(t)
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	alone := startArgv(t, app, []string{app, "--listen=" + addr}, nil)
	eventually(t, startTimeout, "the app answers on "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	inPlace := start(t, options{args: []string{"--max-workers", "0", "--limit-request-line", "100"}})
	for _, tc := range []struct {
		addr string
		raw  string
		want int
	}{
		{addr, "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400},
		{addr, strictcases.LongTarget(4094), 200},
		{addr, strictcases.LongTarget(4095), 414},
		{addr, strictcases.Fields(101), 431},
		{inPlace.addr, "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 400},
		{inPlace.addr, strictcases.LongTarget(100), 200},
		{inPlace.addr, strictcases.LongTarget(101), 414},
	} {
		c := dialRaw(t, tc.addr)
		c.send(tc.raw, 1)
		resp, body := c.response("GET")
		if resp == nil || resp.StatusCode != tc.want {
			t.Errorf("%s, %.50q...: %v %.80q, want %d", tc.addr, tc.raw, resp, body, tc.want)
		}
	}
	eventually(t, 5*time.Second, "the refusal in the app's log", func() bool {
		return strings.Contains(alone.stderr.String(), "request refused: Content-Length with Transfer-Encoding (400, from 127.0.0.1:")
	})
}
