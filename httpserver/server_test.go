package httpserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starlight-go/starlight/internal/scoreboard"
)

// start serves h in-process on a loopback port with set, and returns the
// address. The server is stopped at the end of the test.
func start(t *testing.T, h http.Handler, set settings) (string, *server) {
	t.Helper()
	if set.timeout == 0 {
		set.timeout = 5 * time.Second
	}
	if set.keepaliveTimeout == 0 {
		set.keepaliveTimeout = 2 * time.Second
	}
	if set.gracefulTimeout == 0 {
		set.gracefulTimeout = 5 * time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(h, set)
	s.logger.SetOutput(io.Discard)
	s.listeners = []net.Listener{ln}
	done := make(chan struct{})
	go func() {
		s.serve(nil)
		close(done)
	}()
	t.Cleanup(func() {
		s.drain(0)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ln.Addr().String(), s
}

var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "hello\n")
})

// exchange writes raw to a new connection and reads responses until the
// server closes it or want responses have arrived.
func exchange(t *testing.T, addr, raw string, want int) ([]*http.Response, []string, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var resps []*http.Response
	var bodies []string
	for len(resps) < want {
		req, _ := http.NewRequest("GET", "/", nil)
		if strings.HasPrefix(raw, "HEAD") {
			req.Method = "HEAD"
		}
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			break
		}
		b, _ := io.ReadAll(resp.Body)
		resps = append(resps, resp)
		bodies = append(bodies, string(b))
	}
	// Is the connection closed by the server now?
	c.SetReadDeadline(time.Now().Add(time.Second))
	_, err = br.ReadByte()
	closed := err == io.EOF || (err != nil && !isTimeout(err))
	return resps, bodies, closed
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestKeepaliveOffByDefault(t *testing.T) {
	addr, _ := start(t, hello, settings{maxKeepaliveReqs: 1})
	resps, _, closed := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	if len(resps) != 1 || !resps[0].Close || !closed {
		t.Fatalf("got %d responses, close=%v, conn closed=%v; want 1, true, true", len(resps), len(resps) > 0 && resps[0].Close, closed)
	}
}

func TestMaxKeepaliveReqs(t *testing.T) {
	addr, _ := start(t, hello, settings{maxKeepaliveReqs: 3})
	req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	resps, _, closed := exchange(t, addr, strings.Repeat(req, 5), 5)
	if len(resps) != 3 {
		t.Fatalf("%d responses on one connection, want 3", len(resps))
	}
	for i, r := range resps {
		if r.Close != (i == 2) {
			t.Errorf("response %d: Connection close = %v", i+1, r.Close)
		}
	}
	if !closed {
		t.Error("connection not closed after the 3rd response")
	}
}

func TestPipelinedInOrder(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(50 * time.Millisecond)
		}
		io.WriteString(w, r.URL.Path)
	})
	addr, _ := start(t, h, settings{maxKeepaliveReqs: 0})
	raw := "GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
	_, bodies, _ := exchange(t, addr, raw, 3)
	if strings.Join(bodies, ",") != "/slow,/a,/b" {
		t.Fatalf("pipelined answers %q", bodies)
	}
}

func TestHTTP10Keepalive(t *testing.T) {
	addr, _ := start(t, hello, settings{maxKeepaliveReqs: 0})
	req := "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
	resps, _, _ := exchange(t, addr, req+req, 2)
	if len(resps) != 2 {
		t.Fatalf("%d responses to two HTTP/1.0 keep-alive requests", len(resps))
	}
	if resps[0].Header.Get("Connection") != "keep-alive" {
		t.Errorf("Connection %q, want keep-alive", resps[0].Header.Get("Connection"))
	}
}

func TestServerHeader(t *testing.T) {
	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/set":
			w.Header().Set("Server", "mine")
		case "/add":
			w.Header().Add("Server", "mine")
		}
	})
	addr, _ := start(t, own, settings{maxKeepaliveReqs: 1})
	for path, want := range map[string]string{"/": "starlight/", "/set": "mine", "/add": "mine"} {
		resps, _, _ := exchange(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		if len(resps) != 1 {
			t.Fatalf("%s: no response", path)
		}
		v := resps[0].Header.Values("Server")
		if len(v) != 1 || !strings.HasPrefix(v[0], want) {
			t.Errorf("%s: Server %q, want one value starting %q", path, v, want)
		}
		if resps[0].Header.Get("Date") == "" {
			t.Errorf("%s: no Date", path)
		}
	}
}

func TestHeadHasNoBody(t *testing.T) {
	addr, _ := start(t, hello, settings{maxKeepaliveReqs: 1})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
	all, _ := io.ReadAll(c)
	s := string(all)
	if !strings.HasPrefix(s, "HTTP/1.1 200") || !strings.HasSuffix(s, "\r\n\r\n") {
		t.Fatalf("HEAD answer %q", s)
	}
}

func TestPanicGives500AndServes(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "ok")
	})
	addr, _ := start(t, h, settings{maxKeepaliveReqs: 0})
	resps, bodies, _ := exchange(t, addr, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	if len(resps) < 1 || resps[0].StatusCode != 500 {
		t.Fatalf("panic answered %v", resps)
	}
	resps, bodies, _ = exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 1)
	if len(resps) != 1 || bodies[0] != "ok" {
		t.Fatalf("after a panic: %v %q", resps, bodies)
	}
}

func TestPanicAfterHeadersCutsConnection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		panic("late")
	})
	addr, _ := start(t, h, settings{maxKeepaliveReqs: 0})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	all, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read: %v", err)
	}
	// net/http drops the buffered response and closes: the client must
	// never see a complete response.
	if resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(all))), nil); err == nil {
		if b, err := io.ReadAll(resp.Body); err == nil {
			t.Fatalf("a complete response after a panic: %q", b)
		}
	}
}

func TestChunkedRequestAndContinue(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	addr, _ := start(t, echo, settings{maxKeepaliveReqs: 0})
	_, bodies, _ := exchange(t, addr, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", 1)
	if len(bodies) != 1 || bodies[0] != "hello world" {
		t.Fatalf("chunked body echoed as %q", bodies)
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("Expect: 100-continue answered %q", line)
	}
	br.ReadString('\n')
	io.WriteString(c, "body")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "body" {
		t.Fatalf("after 100-continue: %q", b)
	}
}

func TestHostileRequests(t *testing.T) {
	served := make(chan string, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- r.URL.Path
		io.Copy(io.Discard, r.Body)
	})
	addr, _ := start(t, h, settings{maxKeepaliveReqs: 0})
	cases := []struct{ name, raw string }{
		{"64KiB header", "GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n"},
		{"1MiB of headers", "GET /many HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: "+strings.Repeat("b", 1000)+"\r\n", 1050) + "\r\n"},
		{"invalid Content-Length", "POST /badcl HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"},
		{"double Content-Length", "POST /doublecl HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"},
		{"negative Content-Length", "POST /negcl HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resps, _, closed := exchange(t, addr, tc.raw, 1)
			if len(resps) == 1 && resps[0].StatusCode < 400 {
				t.Fatalf("answered %d", resps[0].StatusCode)
			}
			if len(resps) == 1 && !closed {
				t.Error("connection left open after a rejected request")
			}
		})
	}
	select {
	case p := <-served:
		t.Fatalf("hostile request %s reached the handler", p)
	default:
	}
}

// A request line and headers of MaxHeaderBytes in all are served; a byte
// more gets 431 and never reaches the handler.
func TestHeaderLimit(t *testing.T) {
	addr, _ := start(t, hello, settings{maxKeepaliveReqs: 1})
	request := func(size int) string {
		head := "GET /limit HTTP/1.1\r\nHost: x\r\nX-Big: "
		tail := "\r\n\r\n"
		return head + strings.Repeat("a", size-len(head)-len(tail)) + tail
	}
	for _, tc := range []struct {
		size int
		want int
	}{
		{MaxHeaderBytes, http.StatusOK},
		{MaxHeaderBytes + 1, http.StatusRequestHeaderFieldsTooLarge},
	} {
		raw := request(tc.size)
		if len(raw) != tc.size {
			t.Fatalf("request of %d bytes, want %d", len(raw), tc.size)
		}
		resps, _, _ := exchange(t, addr, raw, 1)
		got := 0 // no response
		if len(resps) == 1 {
			got = resps[0].StatusCode
		}
		if got != tc.want {
			t.Errorf("%d bytes of request line and headers: status %d, want %d", tc.size, got, tc.want)
		}
	}
}

// RFC 9112 section 6.1: a request with both Content-Length and
// Transfer-Encoding is answered (by the chunked body) and the connection
// is closed, so a smuggled second request is never read.
func TestContentLengthWithTransferEncoding(t *testing.T) {
	paths := make(chan string, 10)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		paths <- r.URL.Path
	})
	addr, _ := start(t, h, settings{maxKeepaliveReqs: 0})
	raw := "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	resps, _, closed := exchange(t, addr, raw, 2)
	if len(resps) > 1 {
		t.Fatalf("%d responses: the smuggled request was served", len(resps))
	}
	if len(resps) == 1 && !resps[0].Close {
		t.Error("no Connection: close")
	}
	if !closed {
		t.Error("connection left open")
	}
	close(paths)
	for p := range paths {
		if p == "/smuggled" {
			t.Fatal("smuggled request reached the handler")
		}
	}
}

// trickle writes a byte to c every interval, as a slow client does, until
// a write fails or the test ends.
func trickle(t *testing.T, c net.Conn, every time.Duration) {
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if _, err := io.WriteString(c, "X"); err != nil {
					return
				}
			}
		}
	}()
}

// afterOneRequest dials addr and has one request answered on the
// connection, which stays open (closed at the end of the test), with the
// reader that read the response.
func afterOneRequest(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	return c, br
}

func TestSlowHeadersAreCut(t *testing.T) {
	addr, _ := start(t, hello, settings{timeout: 500 * time.Millisecond, maxKeepaliveReqs: 0})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	begin := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1)
	// Trickle one header byte every 100 ms; the server must cut us near
	// the 500 ms timeout, well before 5 s.
	trickle(t, c, 100*time.Millisecond)
	c.Read(buf)
	if d := time.Since(begin); d > 2*time.Second || d < 400*time.Millisecond {
		t.Fatalf("trickling client cut after %s, want near 500ms", d)
	}
}

// A body trickled in slower than --timeout allows is cut: the handler's
// read fails near the timeout, as with net/http's ReadTimeout.
func TestSlowBodyIsCut(t *testing.T) {
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	addr, _ := start(t, h, settings{timeout: 500 * time.Millisecond, maxKeepaliveReqs: 0})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	begin := time.Now()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
	trickle(t, c, 100*time.Millisecond)
	select {
	case err := <-readErr:
		if d := time.Since(begin); err == nil || d > 2*time.Second || d < 400*time.Millisecond {
			t.Fatalf("the handler's read of a trickled body ended after %s with %v, want an error near 500ms", d, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a body trickled for 5s is still being read (timeout 500ms)")
	}
}

// A handler that runs longer than --timeout once it has read its body is
// not cut, and its request's context is not cancelled.
func TestLongHandlerNotCut(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", 500)
			return
		case <-time.After(time.Second):
		}
		fmt.Fprintf(w, "read %d", len(b))
	})
	addr, _ := start(t, h, settings{timeout: 300 * time.Millisecond, keepaliveTimeout: 300 * time.Millisecond, maxKeepaliveReqs: 0})
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Post("http://"+addr+"/", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != "read 5" {
		t.Fatalf("a 1s handler with a 300ms timeout: %d %q", resp.StatusCode, b)
	}
}

// A keep-alive connection whose next request trickles in is closed at
// --keepalive-timeout: between requests, that is all a client gets.
func TestSlowNextRequestIsCut(t *testing.T) {
	addr, _ := start(t, hello, settings{timeout: 5 * time.Second, keepaliveTimeout: 300 * time.Millisecond, maxKeepaliveReqs: 0})
	// Taken before the first request: the connection cannot idle from
	// earlier, so it must not close sooner than 300ms after this.
	begin := time.Now()
	c, br := afterOneRequest(t, addr)
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	trickle(t, c, 50*time.Millisecond)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Cut mid-header, net/http answers 400 before it closes, as it did
	// when its own deadline cut a trickled request. The trickle may still
	// write after the close, and the kernel then resets the connection.
	got, err := io.ReadAll(br)
	if errors.Is(err, syscall.ECONNRESET) {
		err = nil
	}
	if d := time.Since(begin); err != nil || (len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 400 ")) || d > 2*time.Second || d < 300*time.Millisecond {
		t.Fatalf("a trickled second request: read %q and %v after %s, want the connection closed near 300ms", got, err, d)
	}
}

func TestIdleKeepaliveTimeout(t *testing.T) {
	addr, _ := start(t, hello, settings{keepaliveTimeout: 300 * time.Millisecond, maxKeepaliveReqs: 0})
	begin := time.Now() // before the connection can idle
	c, br := afterOneRequest(t, addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(begin); d > 2*time.Second || d < 300*time.Millisecond {
		t.Fatalf("idle connection closed after %s, want near 300ms", d)
	}
}

func TestHarakiriClosesAndDrains(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Harakiri(r)
		io.WriteString(w, "bye")
	})
	addr, s := start(t, h, settings{maxKeepaliveReqs: 0})
	resps, _, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	if len(resps) != 1 || resps[0].Close {
		t.Fatalf("alone, Harakiri changed the response: %v", resps)
	}
	if s.draining.Load() {
		t.Fatal("alone, Harakiri drained the server")
	}
}

func TestBudgetDrains(t *testing.T) {
	addr, s := start(t, hello, settings{maxKeepaliveReqs: 0, budget: 3})
	for i := 1; i <= 3; i++ {
		resps, _, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
		if len(resps) != 1 {
			t.Fatalf("request %d: no response", i)
		}
		if resps[0].Close != (i == 3) {
			t.Errorf("request %d: close=%v", i, resps[0].Close)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !s.draining.Load() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !s.draining.Load() {
		t.Fatal("not draining after the budget")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		// The listener is closed; nothing else listens on this port.
		t.Fatal("still accepting after the budget")
	}
}

func TestAccessLogLine(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://x/a?b=1", nil)
	r.RequestURI = "/a?b=1"
	r.RemoteAddr = "127.0.0.1:4000"
	r.Header.Set("User-Agent", `evil"agent`+"\n")
	r.SetBasicAuth("ann", "pw")
	tm := time.Date(2026, 11, 25, 13, 55, 36, 0, time.FixedZone("", -7*3600))
	got := string(appendCombined(nil, r, 200, 2326, tm))
	want := `127.0.0.1 - ann [25/Nov/2026:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "-" "evil\"agent\x0a"` + "\n"
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// A HEAD response carries no body, whatever the handler wrote.
	r.Method = http.MethodHead
	if got := string(appendCombined(nil, r, 200, 2326, tm)); !strings.Contains(got, `"HEAD /a?b=1 HTTP/1.1" 200 - "-"`) {
		t.Errorf("HEAD: got %s", got)
	}
}

func TestListenFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-l", ":8080"}, ":8080"},
		{[]string{"--listen=127.0.0.1:1"}, "127.0.0.1:1"},
		{[]string{"--listen", "[::1]:2"}, "[::1]:2"},
		{[]string{"-v", "--", "-l", "x"}, ""},
		{nil, ""},
	} {
		if got, err := listenFlag(tc.args); got != tc.want || err != nil {
			t.Errorf("listenFlag(%q) = %q, %v, want %q", tc.args, got, err, tc.want)
		}
	}
	// One without its address is an error, not the default address.
	for _, args := range [][]string{{"-l"}, {"--listen"}, {"--listen="}, {"-v", "-l"}} {
		if got, err := listenFlag(args); err == nil {
			t.Errorf("listenFlag(%q) = %q, want an error", args, got)
		}
	}
}

func ExampleServe() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello from a starlight worker")
	})
	if err := Serve(mux); err != nil {
		fmt.Println(err)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("STARLIGHT_ENV", "")
	if got := Env(); got != "development" {
		t.Errorf("Env() without STARLIGHT_ENV = %q, want development", got)
	}
	t.Setenv("STARLIGHT_ENV", "production")
	if got := Env(); got != "production" {
		t.Errorf("Env() = %q, want production", got)
	}
}

// The slot says Serve returned nil only when it did: after a drain, not
// when serving failed (what the process does after a nil return is its
// main's business; after an error, its exit is a crash).
func TestSlotSaysServeReturned(t *testing.T) {
	for _, tc := range []struct {
		name    string
		end     func(s *server, ln net.Listener)
		wantErr bool
	}{
		{"drained", func(s *server, _ net.Listener) { s.drain(scoreboard.ExitBudget) }, false},
		{"failed", func(_ *server, ln net.Listener) { ln.Close() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			board := readyBoard(t, 1)
			s := newServer(hello, settings{timeout: time.Second, keepaliveTimeout: time.Second, gracefulTimeout: time.Second, maxKeepaliveReqs: 0})
			s.logger.SetOutput(io.Discard)
			s.board, s.slot = board, board.Slot(0)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			s.listeners = []net.Listener{ln}
			errc := make(chan error, 1)
			go func() { errc <- s.serve(nil) }()
			// Serving: a request is answered (on a connection closed
			// after it, so that none outlives the board).
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get("http://" + ln.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			tc.end(s, ln)
			select {
			case err := <-errc:
				if (err != nil) != tc.wantErr {
					t.Fatalf("serve returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not return")
			}
			if got, want := s.slot.Returned.Load() == 1, !tc.wantErr; got != want {
				t.Errorf("the slot says Serve returned nil: %v, want %v", got, want)
			}
			deadline := time.Now().Add(5 * time.Second)
			for s.conns.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond) // the board goes at cleanup: no connection may outlive it
			}
		})
	}
}

// bigWriter writes n bytes in 32 KiB writes and reports the first error.
func bigWriter(n int, errc chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 32<<10)
		for sent := 0; sent < n; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	})
}

// A client that stops reading is cut once a write has waited --timeout:
// the handler's write fails and the worker moves on.
func TestStalledReaderIsCut(t *testing.T) {
	errc := make(chan error, 1)
	addr, _ := start(t, bigWriter(1<<30, errc), settings{timeout: 500 * time.Millisecond, maxKeepaliveReqs: 0})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("1 GiB written to a client that reads nothing")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still writes to a client that stopped reading 10s ago (timeout 500ms)")
	}
}

// A slow client that keeps reading is not cut, however long the whole
// response takes: --timeout bounds each write, not the response.
func TestSlowReaderNotCut(t *testing.T) {
	errc := make(chan error, 1)
	// The timeout leaves a loaded machine room to pause the reader for
	// a while; the response, at about 5 MB/s, outlasts it.
	const size, timeout = 8 << 20, time.Second
	addr, _ := start(t, bigWriter(size, errc), settings{timeout: timeout, maxKeepaliveReqs: 0})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	begin := time.Now()
	buf := make([]byte, 256<<10)
	total := 0
	for {
		n, err := c.Read(buf)
		total += n
		if err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // a slow client: about 5 MB/s at most
	}
	if err := <-errc; err != nil || total < size {
		t.Fatalf("a slow reader got %d bytes in %s; the handler's write: %v", total, time.Since(begin).Round(time.Millisecond), err)
	}
	if took := time.Since(begin); took < timeout {
		t.Fatalf("the response took only %s: the test did not outlast the timeout", took)
	}
}

// net/http's HTTP/2 server reports StateClosed through the same hook the
// HTTP/1 server already reported it with: the open-connection count must
// drop once, or a drain would finish with connections still open.
func TestConnClosedTwiceCountsOnce(t *testing.T) {
	_, s := start(t, hello, settings{})
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	before := s.conns.Load()
	s.connContext(context.Background(), a)
	s.connState(a, http.StateNew)
	if got := s.conns.Load(); got != before+1 {
		t.Fatalf("open connections after StateNew = %d, want %d", got, before+1)
	}
	s.connState(a, http.StateClosed)
	s.connState(a, http.StateClosed)
	if got := s.conns.Load(); got != before {
		t.Fatalf("open connections after two StateClosed = %d, want %d", got, before)
	}
}
