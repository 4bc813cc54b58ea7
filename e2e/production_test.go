package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// ---- certificates -----------------------------------------------------

type certKey struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

var serial atomic.Int64 // certificate serial numbers, unique in the run

// newCert makes a certificate for cn signed by parent (self-signed, a CA,
// when parent is nil).
func newCert(t *testing.T, cn string, parent *certKey, server bool) *certKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	signer, signerKey := tmpl, key
	if parent == nil {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		signer, signerKey = parent.cert, parent.key
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
			tmpl.DNSNames = []string{"localhost"}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certKey{cert: cert, key: key, der: der}
}

// write puts the certificate and key in PEM files dir/name.crt and .key.
func (c *certKey) write(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	kb, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	replaceFile(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}))
	replaceFile(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	return certFile, keyFile
}

func (c *certKey) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.der}, PrivateKey: c.key, Leaf: c.cert}
}

// replaceFile writes b to path atomically, as a certificate renewal does.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// tlsGet fetches https://addr/tls on a new connection and returns the body
// and the server's certificate.
func tlsGet(addr string, conf *tls.Config) (string, *x509.Certificate, error) {
	d := &net.Dialer{Timeout: requestTimeout}
	c, err := tls.DialWithDialer(d, "tcp", addr, conf)
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := io.WriteString(c, "GET /tls HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"); err != nil {
		return "", nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return strings.TrimSpace(string(body)), c.ConnectionState().PeerCertificates[0], nil
}

type tlsSetup struct {
	dir               string
	ca, other         *certKey
	caFile            string
	certFile, keyFile string
	good, stranger    tls.Certificate
	roots             *x509.CertPool
}

func newTLSSetup(t *testing.T) *tlsSetup {
	t.Helper()
	s := &tlsSetup{dir: t.TempDir()}
	s.ca = newCert(t, "e2e CA", nil, false)
	s.other = newCert(t, "unknown CA", nil, false)
	s.caFile, _ = s.ca.write(t, s.dir, "ca")
	s.certFile, s.keyFile = newCert(t, "server one", s.ca, true).write(t, s.dir, "server")
	s.good = newCert(t, "good client", s.ca, false).tlsCert()
	s.stranger = newCert(t, "stranger", s.other, false).tlsCert()
	s.roots = x509.NewCertPool()
	s.roots.AddCert(s.ca.cert)
	return s
}

// client is a TLS client configuration that presents certs[0], if given,
// whatever CAs the server says it accepts.
func (s *tlsSetup) client(certs ...tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: s.roots, ServerName: "127.0.0.1"}
	if len(certs) > 0 {
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	return c
}

// ---- TLS ----------------------------------------------------------------

// --ssl serves HTTPS with the given key and certificate, TLS 1.2 at least,
// and sets r.TLS for the app; plain HTTP sent to the port is not served.
func TestProdTLS(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	s := start(t, options{args: []string{"--workers", "2", "--ssl", "--ssl-key-file", ts.keyFile, "--ssl-cert-file", ts.certFile}, ready: 2})
	if !strings.Contains(s.stderr.String(), "https://"+s.addr+"/") {
		t.Errorf("the banner does not show https://%s/:\n%s", s.addr, s.stderr)
	}
	body, cert, err := tlsGet(s.addr, ts.client())
	if err != nil {
		t.Fatalf("HTTPS GET /tls: %v", err)
	}
	if !strings.HasPrefix(body, "tls TLS 1.3") || cert.Subject.CommonName != "server one" {
		t.Errorf("HTTPS GET /tls = %q with certificate %q, want TLS 1.3 and server one", body, cert.Subject.CommonName)
	}
	old := ts.client()
	old.MinVersion, old.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	if _, _, err := tlsGet(s.addr, old); err == nil {
		t.Error("a TLS 1.1 client was served")
	}
	// Plain HTTP on the TLS port.
	code, body, err := s.get(s.client, "/tls")
	if err == nil && code == http.StatusOK {
		t.Errorf("plain HTTP to the TLS port was served: %d %q", code, body)
	}
	s.stop(t)
}

// --ssl-verify-mode: 2 requires a client certificate from the CA, 1 checks
// one when presented, 0 asks for none.
func TestProdTLSVerifyModes(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	for _, c := range []struct {
		mode                     string
		none, good, stranger     bool // served?
		goodPeer, noneOrStranger string
	}{
		{mode: "2", none: false, good: true, stranger: false},
		{mode: "1", none: true, good: true, stranger: false},
		{mode: "0", none: true, good: true, stranger: true},
	} {
		t.Run("mode-"+c.mode, func(t *testing.T) {
			s := start(t, options{args: []string{"--workers", "1", "--ssl", "--ssl-key-file", ts.keyFile, "--ssl-cert-file", ts.certFile,
				"--ssl-client-ca-file", ts.caFile, "--ssl-verify-mode", c.mode}, ready: 1})
			for _, k := range []struct {
				what  string
				certs []tls.Certificate
				want  bool
				peer  string
			}{
				{"no client certificate", nil, c.none, "-"},
				{"a certificate from the CA", []tls.Certificate{ts.good}, c.good, "good client"},
				{"a certificate from an unknown CA", []tls.Certificate{ts.stranger}, c.stranger, "-"},
			} {
				body, _, err := tlsGet(s.addr, ts.client(k.certs...))
				switch {
				case k.want && err != nil:
					t.Errorf("mode %s, %s: refused (%v), want served", c.mode, k.what, err)
				case !k.want && err == nil:
					t.Errorf("mode %s, %s: served (%q), want refused", c.mode, k.what, body)
				case k.want && c.mode != "0" && !strings.HasSuffix(body, "peer "+k.peer):
					t.Errorf("mode %s, %s: the app saw %q, want peer %s", c.mode, k.what, body, k.peer)
				}
			}
			s.stop(t)
		})
	}
}

// A client that connects and never sends its handshake is dropped near
// --timeout.
func TestProdTLSStalledHandshake(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	s := start(t, options{args: []string{"--workers", "1", "--timeout", "1", "--ssl", "--ssl-key-file", ts.keyFile, "--ssl-cert-file", ts.certFile}, ready: 1})
	c, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	begin := time.Now()
	c.SetReadDeadline(begin.Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	took := time.Since(begin)
	if err == nil || isTimeout(err) || took > 5*time.Second {
		t.Errorf("a silent TLS client: read returned %v after %s, want the server to close near 1s", err, took.Round(time.Millisecond))
	}
	s.stop(t)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Missing, unreadable or mismatched key and certificate files are refused
// before anything binds: one line, exit 2.
func TestProdTLSBadFiles(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	app := testApp(t)
	otherCert, _ := newCert(t, "other", ts.ca, true).write(t, ts.dir, "other")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing-key", []string{"--ssl-key-file", filepath.Join(ts.dir, "nope.key"), "--ssl-cert-file", ts.certFile}, "nope.key"},
		{"no-files", nil, "--ssl"},
		{"key-not-matching", []string{"--ssl-key-file", ts.keyFile, "--ssl-cert-file", otherCert}, "--ssl"},
		{"verify-without-ca", []string{"--ssl-key-file", ts.keyFile, "--ssl-cert-file", ts.certFile, "--ssl-verify-mode", "2"}, "ca-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			port := freePort(t)
			args := append([]string{"--ssl", "-l", "127.0.0.1:" + itoa(port)}, c.args...)
			code, _, stderr := runStarlight(t, t.TempDir(), append(args, app)...)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(stderr, c.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line naming %q", code, stderr, c.want)
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+itoa(port), time.Second); err == nil {
				c.Close()
				t.Errorf("port %d was bound", port)
			}
		})
	}
	assertNothingLeft(t, app)
}

// A slow restart reads the certificate files again: renewed files are
// served after a HUP.
func TestProdTLSRenewedOnHUP(t *testing.T) {
	t.Parallel()
	ts := newTLSSetup(t)
	s := start(t, options{args: []string{"--workers", "2", "--ssl", "--ssl-key-file", ts.keyFile, "--ssl-cert-file", ts.certFile}, ready: 2})
	if _, cert, err := tlsGet(s.addr, ts.client()); err != nil || cert.Subject.CommonName != "server one" {
		t.Fatalf("before the renewal: %v %v", cert, err)
	}
	newCert(t, "server two", ts.ca, true).write(t, ts.dir, "server")
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, startTimeout, regexp.MustCompile(`reload finished: generation 2`))
	for i := range 5 {
		_, cert, err := tlsGet(s.addr, ts.client())
		if err != nil || cert.Subject.CommonName != "server two" {
			t.Fatalf("connection %d after the HUP: certificate %v, %v; want server two", i, cert.Subject.CommonName, err)
		}
	}
	s.stop(t)
}

// ---- listeners ------------------------------------------------------------

func unixClient(path string) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

func getPID(t *testing.T, c *http.Client, url string) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	f := strings.Fields(string(body))
	if resp.StatusCode != http.StatusOK || len(f) == 0 {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	pid, _ := strconv.Atoi(f[0])
	return pid
}

// A unix socket (-S and -l PATH), an abstract one and TCP at once, all
// served by every worker; the socket file is removed at exit.
func TestProdUnixSockets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	sock2 := filepath.Join(dir, "second.sock")
	abstract := "@starlight-e2e-" + itoa(os.Getpid()) + "-" + itoa(freePort(t))
	s := start(t, options{args: []string{"--workers", "2", "-S", sock, "-l", sock2, "-l", abstract}, ready: 2})
	clients := map[string]*http.Client{
		"tcp":      s.client,
		"-S":       unixClient(sock),
		"-l PATH":  unixClient(sock2),
		"abstract": unixClient("\x00" + abstract[1:]),
	}
	workers := map[int]bool{}
	for _, pid := range s.readyWorkers() {
		workers[pid] = true
	}
	for name, c := range clients {
		seen := map[int]bool{}
		for i := 0; i < 200 && len(seen) < 2; i++ {
			pid := getPID(t, c, "http://"+s.addr+"/pid")
			if !workers[pid] {
				t.Fatalf("%s: answered by %d, not a worker of %v", name, pid, workers)
			}
			seen[pid] = true
		}
		if len(seen) != 2 {
			t.Errorf("%s: served by %v only, want both workers", name, seen)
		}
	}
	s.stop(t)
	for _, p := range []string{sock, sock2} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("socket file %s left after exit (%v)", p, err)
		}
	}
}

// A socket file nothing listens on is replaced, and said so; one a live
// server answers on is refused and that server keeps serving.
func TestProdStaleAndLiveSocket(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("the stale socket file is gone: %v", err)
	}
	s := start(t, options{args: []string{"--workers", "1", "-S", sock}, ready: 1})
	if !strings.Contains(s.stderr.String(), "stale") || !strings.Contains(s.stderr.String(), sock) {
		t.Errorf("the log does not say the stale socket %s was removed:\n%s", sock, s.stderr)
	}
	c := unixClient(sock)
	getPID(t, c, "http://x/pid")

	code, _, stderr := runStarlight(t, t.TempDir(), "--workers", "1", "-l", "127.0.0.1:"+itoa(freePort(t)), "-S", sock, testApp(t))
	if code != 1 || !strings.Contains(stderr, "already listening") {
		t.Errorf("a second server on a live socket: exit %d, stderr %q; want exit 1 saying a server is already listening", code, stderr)
	}
	getPID(t, c, "http://x/pid")
	s.stop(t)
}

// IPv6 listen addresses.
func TestProdIPv6(t *testing.T) {
	t.Parallel()
	probe, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	port := probe.Addr().(*net.TCPAddr).Port
	probe.Close()
	s := start(t, options{args: []string{"--workers", "1", "-l", "[::1]:" + itoa(port)}, ready: 1})
	pid := getPID(t, newClient(false), "http://[::1]:"+itoa(port)+"/pid")
	if !slicesContains(s.readyWorkers(), pid) {
		t.Errorf("[::1] answered by %d, not a worker", pid)
	}
	s.stop(t)

	// --ipv6 with -p alone listens on every IPv6 address.
	port = freePort(t)
	dir := t.TempDir()
	cmd := exec.Command(starlightBin, "--workers", "1", "--ipv6", "-p", itoa(port), testApp(t))
	cmd.Dir = dir
	cmd.Env = childEnv()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := startCmd(cmd); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	c := newClient(false)
	eventually(t, startTimeout, "--ipv6 -p serving on [::1]", func() bool {
		resp, err := c.Get("http://[::1]:" + itoa(port) + "/pid")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == http.StatusOK
	})
	if !strings.Contains(stderr.String(), "http://[::]:"+itoa(port)+"/") {
		t.Errorf("the banner does not show http://[::]:%d/:\n%s", port, stderr.String())
	}
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ---- pid file, error log ---------------------------------------------------

// --pid: the master's pid while it runs; a live one refuses, a stale one is
// replaced; removed at exit.
func TestProdPidFile(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "app.pid")
	// Stale: a process that has exited.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	write(t, pidFile, itoa(dead.Process.Pid)+"\n")
	s := start(t, options{args: []string{"--workers", "1", "--pid", pidFile}, ready: 1})
	b, err := os.ReadFile(pidFile)
	if err != nil || strings.TrimSpace(string(b)) != itoa(s.pid) {
		t.Fatalf("pid file holds %q (%v), want %d", b, err, s.pid)
	}
	code, _, stderr := runStarlight(t, t.TempDir(), "--workers", "1", "-l", "127.0.0.1:"+itoa(freePort(t)), "--pid", pidFile, testApp(t))
	if code != 1 || !strings.Contains(stderr, itoa(s.pid)) {
		t.Errorf("a second server with the same pid file: exit %d, stderr %q; want exit 1 naming pid %d", code, stderr, s.pid)
	}
	if b, _ := os.ReadFile(pidFile); strings.TrimSpace(string(b)) != itoa(s.pid) {
		t.Errorf("the refused server changed the pid file to %q", b)
	}
	s.stop(t)
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("pid file left after exit (%v)", err)
	}
}

// --error-log: the master's lines and the workers' stderr go to the file,
// appended; SIGUSR1 reopens it.
func TestProdErrorLog(t *testing.T) {
	t.Parallel()
	logFile := filepath.Join(t.TempDir(), "error.log")
	write(t, logFile, "kept line\n")
	// The master's lines go to the file, where start would not see them.
	s := launch(t, testApp(t), freePort(t), options{args: []string{"--workers", "1", "--error-log", logFile}})
	var text string
	eventually(t, startTimeout, "the error log shows a worker ready", func() bool {
		b, _ := os.ReadFile(logFile)
		text = string(b)
		return regexp.MustCompile(`starlight: worker \d+ ready`).MatchString(text)
	})
	if !strings.HasPrefix(text, "kept line\n") {
		t.Errorf("the error log was not appended to:\n%s", text)
	}
	if code, _, err := s.get(s.client, "/sleep?ms=1"); err != nil || code != 200 {
		t.Fatalf("GET /sleep: %d %v", code, err)
	}
	eventually(t, requestTimeout, "the worker's stderr in the error log", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), "testapp: worker")
	})
	rotated := logFile + ".1"
	if err := os.Rename(logFile, rotated); err != nil {
		t.Fatal(err)
	}
	s.signal(t, syscall.SIGUSR1)
	eventually(t, requestTimeout, "a fresh error log after SIGUSR1", func() bool {
		_, err := os.Stat(logFile)
		return err == nil
	})
	if code, _, err := s.get(s.client, "/sleep?ms=2"); err != nil || code != 200 {
		t.Fatalf("GET /sleep: %d %v", code, err)
	}
	eventually(t, requestTimeout, "the worker's stderr in the reopened log", func() bool {
		b, _ := os.ReadFile(logFile)
		return strings.Contains(string(b), "sleeping 2 ms")
	})
	if b, _ := os.ReadFile(rotated); strings.Contains(string(b), "sleeping 2 ms") {
		t.Error("after SIGUSR1 a worker still wrote to the rotated file")
	}
	s.stop(t)
}

// ---- daemon --------------------------------------------------------------

// -D returns once the daemon serves; the daemon has its own session; a
// TERM to the pid in --pid leaves no process, socket or pid file.
func TestProdDaemon(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	app := testApp(t)
	pidFile, logFile, sock := filepath.Join(dir, "d.pid"), filepath.Join(dir, "d.log"), filepath.Join(dir, "d.sock")
	addr := "127.0.0.1:" + itoa(freePort(t))
	code, stdout, stderr := runStarlight(t, dir, "-D", "--pid", pidFile, "--error-log", logFile, "-S", sock, "-l", addr, "--workers", "2", app)
	if code != 0 {
		t.Fatalf("starlight -D exited %d: %s%s", code, stdout, stderr)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no pid file once -D returned: %v", err)
	}
	pid := atoi(strings.TrimSpace(string(b)))
	defer syscall.Kill(pid, syscall.SIGKILL)
	// Serving at once, on both listeners.
	getPID(t, newClient(false), "http://"+addr+"/pid")
	getPID(t, unixClient(sock), "http://x/pid")
	st, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
	// state ppid pgrp session tty_nr ...
	if f[3] != itoa(pid) || f[4] != "0" {
		t.Errorf("the daemon %d has session %s and tty %s, want its own session and no terminal", pid, f[3], f[4])
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, stopTimeout, "the daemon gone", func() bool { return !alive(pid) })
	assertNothingLeft(t, app)
	for _, p := range []string{pidFile, sock} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left after the daemon stopped (%v)", p, err)
		}
	}
	if b, _ := os.ReadFile(logFile); !strings.Contains(string(b), "stopping gracefully") {
		t.Errorf("the error log does not show the stop:\n%s", b)
	}
}

// A daemon that cannot start makes the launching command exit 1 with the
// reason.
func TestProdDaemonCannotStart(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	app := testApp(t)
	code, stdout, stderr := runStarlight(t, dir, "-D", "--pid", filepath.Join(dir, "d.pid"), "-l", busy.Addr().String(), app)
	if code != 1 || !strings.Contains(stdout+stderr, "address already in use") {
		t.Errorf("starlight -D on a busy port: exit %d, output %q; want exit 1 and the reason", code, stdout+stderr)
	}
	assertNothingLeft(t, app)
}

// ---- privileges ------------------------------------------------------------

// --user and --group: bind as root, then serve as that user and group with
// no supplementary group; unknown names are refused.
func TestProdUserGroup(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody")
	}
	gid := u.Gid
	group := gid
	if g, err := user.LookupGroupId(gid); err == nil {
		group = g.Name
	}
	// The app must be reachable by nobody: a directory of its own, 0755.
	dir, err := os.MkdirTemp("", "starlight-e2e-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(dir, "app")
	b, err := os.ReadFile(appBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(app, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// A privileged port, to show the bind happened before the drop.
	port := 0
	for p := 1000; p > 900; p-- {
		if ln, err := net.Listen("tcp4", "127.0.0.1:"+itoa(p)); err == nil {
			ln.Close()
			port = p
			break
		}
	}
	if port == 0 {
		t.Skip("no free port below 1024")
	}
	sock := filepath.Join(dir, "app.sock")
	s := launch(t, app, port, options{args: []string{"--workers", "2", "--user", "nobody", "--group", group, "--umask", "027", "-S", sock}})
	s.waitPool(t, 2, startTimeout)
	getPID(t, s.client, "http://"+s.addr+"/pid")
	for _, pid := range append([]int{s.pid}, s.readyWorkers()...) {
		st, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
		if err != nil {
			t.Fatal(err)
		}
		fields := map[string][]string{}
		for _, line := range strings.Split(string(st), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[k] = strings.Fields(v)
			}
		}
		if fields["Uid"][0] != u.Uid || fields["Uid"][1] != u.Uid || fields["Gid"][0] != gid || fields["Gid"][1] != gid {
			t.Errorf("process %d runs as uid %v gid %v, want %s and %s", pid, fields["Uid"], fields["Gid"], u.Uid, gid)
		}
		for _, g := range fields["Groups"] {
			if g != gid {
				t.Errorf("process %d keeps supplementary group %s", pid, g)
			}
		}
	}
	if fi, err := os.Stat(sock); err != nil {
		t.Errorf("socket: %v", err)
	} else if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		t.Errorf("socket file mode %v: --umask 027 not applied", perm)
	}
	s.stop(t)

	for _, c := range [][]string{{"--user", "no-such-user-e2e"}, {"--group", "no-such-group-e2e"}} {
		code, _, stderr := runStarlight(t, dir, append(c, "-l", "127.0.0.1:"+itoa(freePort(t)), app)...)
		if code != 2 || !strings.Contains(stderr, c[1]) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 naming it", strings.Join(c, " "), code, stderr)
		}
	}
}

// ---- systemd -------------------------------------------------------------

// With LISTEN_FDS the master serves on the inherited socket and binds
// nothing; with NOTIFY_SOCKET it reports READY=1, RELOADING=1 around a
// slow restart, and STOPPING=1.
func TestProdSystemd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	defer lf.Close()

	notifyPath := filepath.Join(dir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifyPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var notes syncBuffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := nc.ReadFromUnix(buf)
			if err != nil {
				return
			}
			notes.Write(append(buf[:n:n], '\n'))
		}
	}()

	app := testApp(t)
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, starlightBin, "--workers", "2", app)
	cmd.Env = childEnv("NOTIFY_SOCKET=" + notifyPath)
	cmd.ExtraFiles = []*os.File{lf}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := startCmd(cmd); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		assertNothingLeft(t, app)
		if t.Failed() {
			t.Logf("stderr:\n%s\nnotifications:\n%s", stderr.String(), notes.String())
		}
	}()

	eventually(t, startTimeout, "READY=1", func() bool { return strings.Contains(notes.String(), "READY=1") })
	c := newClient(false)
	getPID(t, c, "http://"+addr+"/pid")
	if strings.Contains(stderr.String(), "5000") {
		t.Errorf("starlight bound its default port besides the inherited socket:\n%s", stderr.String())
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, startTimeout, "RELOADING=1 then READY=1", func() bool {
		n := notes.String()
		i := strings.Index(n, "RELOADING=1")
		return i >= 0 && strings.Contains(n[i:], "READY=1")
	})
	getPID(t, c, "http://"+addr+"/pid")
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(stopTimeout):
		t.Fatal("starlight still runs after SIGTERM")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0", code)
	}
	if !strings.Contains(notes.String(), "STOPPING=1") {
		t.Errorf("no STOPPING=1 among the notifications:\n%s", notes.String())
	}
}
