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
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ---- helpers ------------------------------------------------------------

// startServer runs starlight with args and app, and waits until n workers
// are ready (read from the master's log on stderr).
func startServer(t *testing.T, app string, n int, args ...string) *server {
	t.Helper()
	argv := append([]string{starlightBin, "--workers", itoa(n)}, args...)
	s := startArgv(t, app, append(argv, app), nil)
	s.waitPool(t, n, startTimeout)
	return s
}

// runFailing runs starlight with args, which should fail to start, and
// returns its exit status and stderr. Unlike runStarlight, it gives up
// (failing the test) after startTimeout: a server that starts when it
// should not is soon noticed, and killed at cleanup with its workers.
func runFailing(t *testing.T, app string, args ...string) (int, string) {
	t.Helper()
	s := startArgv(t, app, append([]string{starlightBin}, args...), nil)
	select {
	case <-s.done:
	case <-time.After(startTimeout):
		t.Fatalf("starlight %s: still running after %s; stderr:\n%s", strings.Join(args, " "), startTimeout, s.stderr)
	}
	if out := s.stdout.String(); out != "" {
		t.Errorf("starlight %s: stdout %q, want nothing", strings.Join(args, " "), out)
	}
	return s.exitCode, s.stderr.String()
}

// fetch GETs url and returns the status and the body.
func fetch(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustFetch GETs url and fails the test unless the answer is 200.
func mustFetch(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	code, body, err := fetch(c, url)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET %s: %d %q %v", url, code, body, err)
	}
	return body
}

// pidOf parses the worker pid out of a /pid answer.
func pidOf(body string) int {
	f := strings.Fields(body)
	if len(f) == 0 {
		return 0
	}
	return atoi(f[0])
}

// unixHTTP is a client whose every request goes to the unix socket at
// path (an abstract one when it starts with @); the URL's host is
// ignored.
func unixHTTP(path string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "unix", path)
			},
		},
	}
}

// seenPIDs GETs /pid through c (at most max times) until every pid of
// want has answered, and returns the pids that answered.
func seenPIDs(c *http.Client, url string, want []int, max int) map[int]bool {
	seen := map[int]bool{}
	for i := 0; i < max; i++ {
		if _, body, err := fetch(c, url); err == nil {
			seen[pidOf(body)] = true
		}
		all := true
		for _, p := range want {
			all = all && seen[p]
		}
		if all {
			break
		}
	}
	return seen
}

// argvHolding lists the live processes with arg among their arguments.
func argvHolding(arg string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if slices.Contains(strings.Split(string(b), "\x00"), arg) {
			out = append(out, pid)
		}
	}
	return out
}

// statFields returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, session, tty_nr, ...
func statFields(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(string(b), ')')
	return strings.Fields(string(b[i+2:]))
}

// procStatus reads /proc/PID/status into a map of its fields.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/" + itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// fileCount counts the lines of the file at path that match re.
func fileCount(path string, re *regexp.Regexp) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if re.MatchString(line) {
			n++
		}
	}
	return n
}

// fileHas reports whether the file at path has a line matching re.
func fileHas(path string, re *regexp.Regexp) bool { return fileCount(path, re) > 0 }

func waitFileLine(t *testing.T, path string, re *regexp.Regexp) {
	t.Helper()
	eventually(t, 10*time.Second, fmt.Sprintf("a line of %s matching %s", path, re), func() bool { return fileHas(path, re) })
}

// staleSocket leaves a unix socket file at path that nothing listens on,
// as a server killed without cleaning up would.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if st, err := os.Lstat(path); err != nil || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("stale socket %s not left on disk: %v", path, err)
	}
}

func isSocketFile(path string) bool {
	st, err := os.Lstat(path)
	return err == nil && st.Mode()&os.ModeSocket != 0
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// closedPort reports whether a TCP connection to addr is refused.
func closedPort(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// reOneLine is the shape of a start failure: one line naming the problem.
var reOneLine = regexp.MustCompile(`^starlight: [^\n]+\n$`)

// ---- certificates ---------------------------------------------------------

// pkiCert is a certificate with its key, parsed and as PEM.
type pkiCert struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	keyPEM  []byte
}

var (
	pkiMu     sync.Mutex
	pkiSerial int64 = 1000
)

// issue makes a certificate for cn signed by ca, or a self-signed CA when
// ca is nil. A server certificate names 127.0.0.1, ::1 and localhost.
func issue(t *testing.T, cn string, ca *pkiCert, usage x509.ExtKeyUsage) *pkiCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkiMu.Lock()
	pkiSerial++
	serial := pkiSerial
	pkiMu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"starlight e2e"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		parent, signer = ca.cert, ca.key
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
			tmpl.DNSNames = []string{"localhost"}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &pkiCert{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}
}

func (c *pkiCert) tlsCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.cert.Raw}, PrivateKey: c.key, Leaf: c.cert}
}

// writeAtomic writes b to path atomically, as a renewal tool would.
func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// pki is a test CA with a server and a client certificate, a rogue CA
// with a client certificate of its own, and the files starlight reads.
type pki struct {
	dir                       string
	ca, server, client        *pkiCert
	rogue, rogueClient        *pkiCert
	caFile, certFile, keyFile string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.ca = issue(t, "e2e test CA", nil, 0)
	p.server = issue(t, "server-1", p.ca, x509.ExtKeyUsageServerAuth)
	p.client = issue(t, "good-client", p.ca, x509.ExtKeyUsageClientAuth)
	p.rogue = issue(t, "rogue CA", nil, 0)
	p.rogueClient = issue(t, "rogue-client", p.rogue, x509.ExtKeyUsageClientAuth)
	p.caFile = filepath.Join(p.dir, "ca.pem")
	p.certFile = filepath.Join(p.dir, "server.pem")
	p.keyFile = filepath.Join(p.dir, "server.key")
	writeAtomic(t, p.caFile, p.ca.certPEM)
	writeAtomic(t, p.certFile, p.server.certPEM)
	writeAtomic(t, p.keyFile, p.server.keyPEM)
	return p
}

// conf is a client configuration that trusts the test CA and presents
// cert (none when nil) whenever the server asks, whichever CAs it names.
func (p *pki) conf(cert *pkiCert) *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(p.ca.cert)
	return &tls.Config{
		RootCAs: roots,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if cert == nil {
				return &tls.Certificate{}, nil
			}
			c := cert.tlsCertificate()
			return &c, nil
		},
	}
}

// https GETs path on addr over TLS with conf on a new connection, and
// returns the body and the certificate the server presented.
func https(conf *tls.Config, addr, path string) (string, *x509.Certificate, error) {
	c := &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: conf},
	}
	resp, err := c.Get("https://" + addr + path)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("status %d: %q", resp.StatusCode, b)
	}
	return string(b), resp.TLS.PeerCertificates[0], nil
}

// ---- TLS ------------------------------------------------------------------

// HTTPS on the TCP listener, with TLS 1.2 at least; the app sees r.TLS;
// plain HTTP on that port never reaches the app; a unix socket stays plain.
func TestProdHTTPS(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	app := testApp(t)
	addr := "127.0.0.1:" + itoa(freePort(t))
	sock := filepath.Join(t.TempDir(), "s.sock")
	s := startServer(t, app, 2, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile, "-l", addr, "-S", sock)

	if !strings.Contains(s.stderr.String(), "https://"+addr+"/") {
		t.Errorf("the log does not show https://%s/:\n%s", addr, s.stderr)
	}
	body, cert, err := https(p.conf(nil), addr, "/tls")
	if err != nil {
		t.Fatalf("HTTPS GET /tls: %v", err)
	}
	if body != "tls TLS 1.3 peer -\n" {
		t.Errorf("GET /tls over TLS: the app says %q, want %q", body, "tls TLS 1.3 peer -\n")
	}
	if cert.Subject.CommonName != "server-1" || cert.SerialNumber.Cmp(p.server.cert.SerialNumber) != 0 {
		t.Errorf("server certificate %q serial %v, want server-1 serial %v", cert.Subject.CommonName, cert.SerialNumber, p.server.cert.SerialNumber)
	}

	// TLS 1.2 is accepted; 1.1 and 1.0 are not.
	c12 := p.conf(nil)
	c12.MaxVersion = tls.VersionTLS12
	if body, _, err := https(c12, addr, "/tls"); err != nil || body != "tls TLS 1.2 peer -\n" {
		t.Errorf("a TLS 1.2 client: %q %v", body, err)
	}
	for _, v := range []uint16{tls.VersionTLS11, tls.VersionTLS10} {
		old := p.conf(nil)
		old.MinVersion, old.MaxVersion = v, v
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, old)
		if err == nil {
			conn.Close()
			t.Errorf("a %s client completed a handshake; want TLS 1.2 at least", tls.VersionName(v))
		} else if !strings.Contains(err.Error(), "protocol version") {
			t.Errorf("a %s client: %v; want the server to refuse the protocol version", tls.VersionName(v), err)
		}
	}

	// Plain HTTP on the TLS port.
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(requestTimeout))
	fmt.Fprintf(conn, "GET /tls HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", addr)
	raw, _ := io.ReadAll(conn)
	conn.Close()
	if resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(raw))), nil); err == nil {
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK || strings.Contains(string(b), "plain") {
			t.Errorf("plain HTTP on the TLS port was served: %d %q", resp.StatusCode, b)
		} else if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: status %d, want 400", resp.StatusCode)
		}
	} else if strings.Contains(string(raw), "plain") {
		t.Errorf("plain HTTP on the TLS port reached the app: %q", raw)
	}

	// The unix socket serves plain HTTP.
	if body := mustFetch(t, unixHTTP(sock), "http://unix/tls"); body != "plain\n" {
		t.Errorf("GET /tls on the unix socket: %q, want plain", body)
	}
	s.stop(t)
}

// --ssl-verify-mode: 0 asks for no client certificate, 1 verifies one if
// sent, 2 and 3 require one; against --ssl-client-ca-file, else
// --ssl-ca-file.
func TestProdClientCertificates(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const rejected = "rejected"
	for _, tc := range []struct {
		mode, caOpt           string
		none, good, rogueCert string // the outcome; accepted ones name the peer the app saw
	}{
		{"0", "--ssl-client-ca-file", "-", "-", "-"},
		{"1", "--ssl-client-ca-file", "-", "good-client", rejected},
		{"2", "--ssl-client-ca-file", rejected, "good-client", rejected},
		{"3", "--ssl-ca-file", rejected, "good-client", rejected},
	} {
		t.Run("mode"+tc.mode, func(t *testing.T) {
			t.Parallel()
			addr := "127.0.0.1:" + itoa(freePort(t))
			startServer(t, testApp(t), 1, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile,
				tc.caOpt, p.caFile, "--ssl-verify-mode", tc.mode, "-l", addr)
			for _, c := range []struct {
				name string
				cert *pkiCert
				want string
			}{{"no certificate", nil, tc.none}, {"a certificate of the CA", p.client, tc.good}, {"a certificate of another CA", p.rogueClient, tc.rogueCert}} {
				body, _, err := https(p.conf(c.cert), addr, "/tls")
				switch {
				case c.want == rejected && err == nil:
					t.Errorf("mode %s, client with %s: served (%q), want the handshake refused", tc.mode, c.name, body)
				case c.want != rejected && err != nil:
					t.Errorf("mode %s, client with %s: %v, want it served", tc.mode, c.name, err)
				case c.want != rejected && body != "tls TLS 1.3 peer "+c.want+"\n":
					t.Errorf("mode %s, client with %s: the app says %q, want peer %s", tc.mode, c.name, body, c.want)
				}
			}
		})
	}
}

// Bad TLS files are caught before anything binds: one line, exit 2.
func TestProdTLSFileErrors(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	dir := t.TempDir()
	other := issue(t, "other", p.ca, x509.ExtKeyUsageServerAuth)
	otherKey := filepath.Join(dir, "other.key")
	writeAtomic(t, otherKey, other.keyPEM)
	garbage := filepath.Join(dir, "garbage.pem")
	writeAtomic(t, garbage, []byte("not a certificate\n"))
	aDir := filepath.Join(dir, "a-directory.pem")
	if err := os.Mkdir(aDir, 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.key")
	ssl := func(key, cert string, more ...string) []string {
		return append([]string{"--ssl", "--ssl-key-file", key, "--ssl-cert-file", cert}, more...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing-key", ssl(missing, p.certFile), "--ssl-key-file: open " + missing + ": no such file or directory"},
		{"unreadable-cert", ssl(p.keyFile, aDir), "--ssl-cert-file: read " + aDir + ": is a directory"},
		{"key-not-matching", ssl(otherKey, p.certFile), "private key does not match public key"},
		{"cert-not-pem", ssl(p.keyFile, garbage), "--ssl-cert-file/--ssl-key-file: "},
		{"no-files", []string{"--ssl"}, "--ssl needs --ssl-key-file and --ssl-cert-file"},
		{"verify-without-ca", ssl(p.keyFile, p.certFile, "--ssl-verify-mode", "2"), "--ssl-verify-mode 2 needs --ssl-ca-file or --ssl-client-ca-file"},
		{"ca-not-pem", ssl(p.keyFile, p.certFile, "--ssl-verify-mode", "1", "--ssl-client-ca-file", garbage), "holds no PEM certificate"},
	}
	if os.Geteuid() != 0 {
		unreadable := filepath.Join(dir, "unreadable.key")
		writeAtomic(t, unreadable, p.server.keyPEM)
		os.Chmod(unreadable, 0)
		cases = append(cases, struct {
			name string
			args []string
			want string
		}{"unreadable-key", ssl(unreadable, p.certFile), "--ssl-key-file: open " + unreadable + ": permission denied"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app := testApp(t)
			addr := "127.0.0.1:" + itoa(freePort(t))
			// A stale socket file that binding would have removed.
			sock := filepath.Join(t.TempDir(), "s.sock")
			staleSocket(t, sock)
			args := append(tc.args, "--workers", "1", "-l", addr, "-S", sock, app)
			code, stderr := runFailing(t, app, args...)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !reOneLine.MatchString(stderr) || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q: want one line with %q", stderr, tc.want)
			}
			if !isSocketFile(sock) {
				t.Errorf("the stale socket %s was removed: starlight went on to bind", sock)
			}
			assertNothingLeft(t, app)
		})
	}
}

// A SIGHUP rolls in workers that read the certificate files again; a
// renewal that does not load leaves the running workers serving.
func TestProdCertRenewalOnHUP(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	addr := "127.0.0.1:" + itoa(freePort(t))
	s := startServer(t, testApp(t), 2, "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile, "-l", addr)
	if _, cert, err := https(p.conf(nil), addr, "/pid"); err != nil || cert.Subject.CommonName != "server-1" {
		t.Fatalf("before the renewal: %v %v", cert, err)
	}

	renewed := issue(t, "server-2", p.ca, x509.ExtKeyUsageServerAuth)
	writeAtomic(t, p.keyFile, renewed.keyPEM)
	writeAtomic(t, p.certFile, renewed.certPEM)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload finished: generation 2 serves on every worker`))
	for i := 0; i < 6; i++ {
		body, cert, err := https(p.conf(nil), addr, "/pid")
		if err != nil {
			t.Fatalf("after the renewal: %v", err)
		}
		if cert.Subject.CommonName != "server-2" || cert.SerialNumber.Cmp(renewed.cert.SerialNumber) != 0 {
			t.Fatalf("connection %d after the reload: certificate %s serial %v, want server-2 serial %v", i, cert.Subject.CommonName, cert.SerialNumber, renewed.cert.SerialNumber)
		}
		if f := strings.Fields(body); len(f) != 2 || f[1] != "2" {
			t.Fatalf("connection %d after the reload served by %q, want generation 2", i, body)
		}
	}

	// A renewal gone wrong (the key of another certificate): the new
	// workers cannot start, the reload rolls back, the old ones serve on.
	writeAtomic(t, p.keyFile, p.server.keyPEM)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload rolled back: .*generation 2 keeps serving`))
	if _, cert, err := https(p.conf(nil), addr, "/pid"); err != nil || cert.Subject.CommonName != "server-2" {
		t.Fatalf("after a failed renewal: %v %v", cert, err)
	}
	if s.exited() {
		t.Fatalf("the master exited after a failed renewal: %s", s.exitDesc)
	}
	s.stop(t)
}

// With --user, a key only root may read (mode 0600 in a root-only
// directory, the usual setup) is read by the master before it switches
// user and handed to the workers; a HUP that cannot read the files again
// as that user says so, and the new workers keep the key read at start.
func TestProdTLSKeyForRootOnly(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, ok := lookupEtc("/etc/passwd", "nobody"); !ok {
		t.Skip("no user nobody")
	}
	p := newPKI(t)                                                  // in a directory of root's, mode 0700
	app := filepath.Join(sharedDir(t, "starlight-e2e-tls-"), "app") // where nobody may run it
	copyExecutable(t, appBin, app)
	addr := "127.0.0.1:" + itoa(freePort(t))
	s := startArgv(t, app, []string{starlightBin, "--workers", "2", "--user", "nobody", "--ssl",
		"--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile, "-l", addr, app}, nil)
	var cert *x509.Certificate
	var err error
	eventually(t, startTimeout, "an answer over TLS", func() bool {
		_, cert, err = https(p.conf(nil), addr, "/pid")
		return err == nil || s.exited()
	})
	if err != nil || cert.Subject.CommonName != "server-1" {
		t.Fatalf("over TLS as nobody: %v %v; the log:\n%s", cert, err, s.stderr.String())
	}

	renewed := issue(t, "server-2", p.ca, x509.ExtKeyUsageServerAuth)
	writeAtomic(t, p.keyFile, renewed.keyPEM)
	writeAtomic(t, p.certFile, renewed.certPEM)
	s.signal(t, syscall.SIGHUP)
	s.waitLog(t, 15*time.Second, regexp.MustCompile(`starlight: reload finished: generation 2 serves on every worker`))
	if s.count(regexp.MustCompile(`starlight: TLS: --ssl-cert-file: .*permission denied; the new workers get the certificate and key read before$`)) != 1 {
		t.Errorf("no log line says the renewed files could not be read as nobody")
	}
	body, cert, err := https(p.conf(nil), addr, "/pid")
	if err != nil || cert.Subject.CommonName != "server-1" {
		t.Fatalf("after the HUP: %v %v", cert, err)
	}
	if f := strings.Fields(body); len(f) != 2 || f[1] != "2" {
		t.Errorf("after the HUP served by %q, want generation 2", body)
	}
	s.stop(t)
}

// ---- IPv6 -----------------------------------------------------------------

// freeDualPort returns a port free on both 127.0.0.1 and ::1 a moment ago.
func freeDualPort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		port := freePort(t)
		ln, err := net.Listen("tcp6", "[::1]:"+itoa(port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no port free on both 127.0.0.1 and ::1")
	return 0
}

// -l [::1]:PORT and -o ::1 serve on ::1 only; --ipv6 with no --host
// listens on [::], IPv4 clients included.
func TestProdIPv6Listeners(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	for _, tc := range []struct {
		name   string
		args   func(port string) []string
		shown  string // the listener in the log
		ipv4ok bool   // 127.0.0.1 served too
	}{
		{"listen", func(p string) []string { return []string{"-l", "[::1]:" + p} }, "http://[::1]:%s/", false},
		{"host", func(p string) []string { return []string{"-o", "::1", "-p", p} }, "http://[::1]:%s/", false},
		{"ipv6-flag", func(p string) []string { return []string{"--ipv6", "-p", p} }, "http://[::]:%s/", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			port := itoa(freeDualPort(t))
			s := startServer(t, testApp(t), 1, tc.args(port)...)
			if want := fmt.Sprintf(tc.shown, port); !strings.Contains(s.stderr.String(), want) {
				t.Errorf("the log does not show %s", want)
			}
			if body := mustFetch(t, s.client, "http://[::1]:"+port+"/pid"); pidOf(body) == 0 {
				t.Errorf("GET /pid on [::1]:%s: %q", port, body)
			}
			_, _, err := fetch(s.client, "http://127.0.0.1:"+port+"/pid")
			if tc.ipv4ok && err != nil {
				t.Errorf("%s: 127.0.0.1:%s not served: %v", tc.name, port, err)
			}
			if !tc.ipv4ok && err == nil {
				t.Errorf("%s: 127.0.0.1:%s served, want only ::1", tc.name, port)
			}
			s.stop(t)
		})
	}
}

// ---- unix sockets ---------------------------------------------------------

// -S and -l PATH.sock, an abstract socket and TCP at once, every worker
// on each; the socket files go at exit.
func TestProdUnixListeners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sockS := filepath.Join(dir, "s.sock")
	sockL := filepath.Join(dir, "l.sock")
	abstract := fmt.Sprintf("@starlight-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	addr := "127.0.0.1:" + itoa(freePort(t))
	s := startServer(t, testApp(t), 2, "-S", sockS, "-l", sockL, "-l", abstract, "-l", addr)
	workers := s.readyWorkers()
	for _, want := range []string{"unix:" + sockS, "unix:" + sockL, "unix:" + abstract, "http://" + addr + "/"} {
		if !strings.Contains(s.stderr.String(), want) {
			t.Errorf("the log does not show the listener %s", want)
		}
	}
	for _, path := range []string{sockS, sockL} {
		if !isSocketFile(path) {
			t.Errorf("%s is not a socket file while serving", path)
		}
	}
	for _, l := range []struct {
		name string
		c    *http.Client
		url  string
	}{
		{"-S " + sockS, unixHTTP(sockS), "http://unix/pid"},
		{"-l " + sockL, unixHTTP(sockL), "http://unix/pid"},
		{"-l " + abstract, unixHTTP(abstract), "http://unix/pid"},
		{"-l " + addr, s.client, "http://" + addr + "/pid"},
	} {
		seen := seenPIDs(l.c, l.url, workers, 300)
		if len(seen) == 0 {
			t.Errorf("%s serves nothing", l.name)
			continue
		}
		for _, pid := range workers {
			if !seen[pid] {
				t.Errorf("worker %d never answered on %s (answers from %v)", pid, l.name, seen)
			}
		}
	}
	s.stop(t)
	for _, path := range []string{sockS, sockL} {
		if exists(path) {
			t.Errorf("%s left behind at exit", path)
		}
	}
	if c, err := net.Dial("unix", abstract); err == nil {
		c.Close()
		t.Errorf("%s still accepts after exit", abstract)
	}
}

// A stale socket file is replaced (and the log says so); one a live server
// answers on is refused, and that server keeps serving; a file that is no
// socket is left alone.
func TestProdSocketFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.sock")
	staleSocket(t, sock)
	app := testApp(t)
	s := startServer(t, app, 1, "-S", sock)
	s.waitLog(t, time.Second, regexp.MustCompile(`starlight: removed stale socket `+regexp.QuoteMeta(sock)+`$`))
	c := unixHTTP(sock)
	before := pidOf(mustFetch(t, c, "http://unix/pid"))

	app2 := testApp(t)
	code, stderr := runFailing(t, app2, "--workers", "1", "-S", sock, app2)
	if code != 1 {
		t.Errorf("a second server on the live socket: exit status %d, want 1", code)
	}
	if want := "listen " + sock + ": a server is already listening on this socket"; !strings.Contains(stderr, want) || strings.Contains(stderr, "spawned") {
		t.Errorf("a second server on the live socket: stderr %q, want %q and no worker", stderr, want)
	}
	assertNothingLeft(t, app2)
	if !isSocketFile(sock) {
		t.Fatalf("the refused server removed %s", sock)
	}
	if after := pidOf(mustFetch(t, c, "http://unix/pid")); after != before {
		t.Errorf("after the refused start, the socket is answered by %d, want the first server's worker %d", after, before)
	}

	notSock := filepath.Join(dir, "file.sock")
	write(t, notSock, "data\n")
	code, stderr = runFailing(t, app2, "--workers", "1", "-S", notSock, app2)
	if code != 1 || !strings.Contains(stderr, "listen "+notSock+": exists and is not a socket") {
		t.Errorf("-S on a regular file: exit %d, stderr %q", code, stderr)
	}
	if b, err := os.ReadFile(notSock); err != nil || string(b) != "data\n" {
		t.Errorf("the regular file was touched: %q %v", b, err)
	}
	s.stop(t)
	if exists(sock) {
		t.Errorf("%s left behind at exit", sock)
	}
}

// A socket whose server is too busy to take one more connection (its
// queue is full) is not stale: starlight refuses it and leaves it. And at
// exit starlight removes its socket file only if it is still its own: one
// another server has put there since stays.
func TestProdSocketFileOfAnotherServer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	busy := filepath.Join(dir, "busy.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: busy}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // never accepts
		t.Fatal(err)
	}
	var queued []net.Conn
	defer func() {
		for _, c := range queued {
			c.Close()
		}
	}()
	for len(queued) < 100 {
		c, err := net.DialTimeout("unix", busy, time.Second)
		if err != nil {
			break // full
		}
		queued = append(queued, c)
	}
	app := testApp(t)
	code, stderr := runFailing(t, app, "--workers", "1", "-S", busy, app)
	if want := "listen " + busy + ": a server is already listening on this socket (its queue is full)"; code != 1 || !strings.Contains(stderr, want) {
		t.Errorf("-S on the socket of a server with a full queue: exit %d, stderr %q, want 1 and %q", code, stderr, want)
	}
	if !isSocketFile(busy) {
		t.Errorf("the busy server's socket %s was removed", busy)
	}
	assertNothingLeft(t, app)

	sock := filepath.Join(dir, "app.sock")
	s := startServer(t, app, 1, "-S", sock)
	mustFetch(t, unixHTTP(sock), "http://unix/pid")
	// Another server takes the path over while this one runs.
	if err := os.Remove(sock); err != nil {
		t.Fatal(err)
	}
	other, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s.stop(t)
	if !isSocketFile(sock) {
		t.Errorf("at exit starlight removed %s, which another server had bound since", sock)
	}
}

// ---- pid file -------------------------------------------------------------

func TestProdPidFileLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "app.pid")

	// A stale pid file: the pid of a process that has exited.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	write(t, pidFile, itoa(gone.Process.Pid)+"\n")
	s := startServer(t, testApp(t), 1, "--pid", pidFile, "-l", "127.0.0.1:"+itoa(freePort(t)))
	if b, err := os.ReadFile(pidFile); err != nil || string(b) != itoa(s.pid)+"\n" {
		t.Fatalf("pid file %q %v, want the master's pid %d", b, err, s.pid)
	}
	if s.count(regexp.MustCompile(`starlight: replaced the stale pid file .*: process `+itoa(gone.Process.Pid)+` is gone$`)) != 1 {
		t.Errorf("no log line says the stale pid file was replaced")
	}

	// A pid file naming a live process that is no starlight (its pid
	// was taken after a reboot, say): it holds no lock, so it is stale.
	other := filepath.Join(dir, "other.pid")
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	write(t, other, itoa(sleeper.Process.Pid)+"\n")
	s2 := startServer(t, testApp(t), 1, "--pid", other, "-l", "127.0.0.1:"+itoa(freePort(t)))
	if b, err := os.ReadFile(other); err != nil || string(b) != itoa(s2.pid)+"\n" {
		t.Errorf("a pid file naming a live process that is no starlight: it holds %q %v, want the new master's pid %d", b, err, s2.pid)
	}
	if s2.count(regexp.MustCompile(`starlight: replaced the stale pid file .*: process `+itoa(sleeper.Process.Pid)+` holds no lock on it, so it is no starlight$`)) != 1 {
		t.Errorf("no log line says the pid file of a live process that is no starlight was replaced")
	}
	s2.stop(t)

	// A pid file of a running process.
	app2 := testApp(t)
	code, stderr := runFailing(t, app2, "--workers", "1", "--pid", pidFile, "-l", "127.0.0.1:"+itoa(freePort(t)), app2)
	if code != 1 {
		t.Errorf("a second server with the same pid file: exit status %d, want 1", code)
	}
	if want := fmt.Sprintf("--pid: %s belongs to running process %d", pidFile, s.pid); !strings.Contains(stderr, want) || strings.Contains(stderr, "spawned") {
		t.Errorf("a second server with the same pid file: stderr %q, want %q and no worker", stderr, want)
	}
	assertNothingLeft(t, app2)
	if b, _ := os.ReadFile(pidFile); string(b) != itoa(s.pid)+"\n" {
		t.Errorf("after the refused start the pid file holds %q, want %d", b, s.pid)
	}

	// A pid file in a directory that does not exist.
	nodir := filepath.Join(dir, "nonexistent", "app.pid")
	code, stderr = runFailing(t, app2, "--workers", "1", "--pid", nodir, "-l", "127.0.0.1:"+itoa(freePort(t)), app2)
	if code != 2 || !strings.Contains(stderr, "--pid: ") || strings.Contains(stderr, "spawned") {
		t.Errorf("--pid in a missing directory: exit %d, stderr %q", code, stderr)
	}

	s.stop(t)
	if exists(pidFile) {
		t.Errorf("pid file left behind at exit")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("files left in the pid file's directory: %v", names)
	}
}

// ---- logs -----------------------------------------------------------------

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

// ---- daemon ---------------------------------------------------------------

// killArgvHolding kills, at cleanup, whatever still runs with arg among its
// arguments (a daemon is no child of the test).
func killArgvHolding(t *testing.T, arg string) {
	t.Cleanup(func() {
		for _, pid := range argvHolding(arg) {
			t.Errorf("process %d (with %s) still runs at the end of the test; killing it", pid, arg)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// -D returns 0 once the daemon serves; the daemon has a session of its
// own and no terminal; TERM to the pid in the pid file stops it and
// removes the pid file and the socket file.
func TestProdDaemonLifecycle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	errLog := filepath.Join(dir, "d.log")
	sock := filepath.Join(dir, "d.sock")
	addr := "127.0.0.1:" + itoa(freePort(t))
	app := testApp(t)
	killArgvHolding(t, pidFile)
	t.Cleanup(func() { assertNothingLeft(t, app) })

	t0 := time.Now()
	code, stdout, stderr := runStarlight(t, "", "-D", "--pid", pidFile, "--error-log", errLog, "-S", sock, "-l", addr, "--workers", "2", app)
	if code != 0 {
		t.Fatalf("starlight -D: exit status %d, stderr %q", code, stderr)
	}
	took := time.Since(t0)
	if stdout != "" || stderr != "" {
		t.Errorf("starlight -D printed: stdout %q stderr %q", stdout, stderr)
	}
	// Both workers were ready before the command returned (the daemon
	// logs that before it reports), and it serves on every listener.
	if b, _ := os.ReadFile(errLog); len(regexp.MustCompile(`(?m)starlight: worker \d+ ready`).FindAll(b, -1)) != 2 {
		t.Errorf("starlight -D returned before the 2 workers were ready; the error log then:\n%s", b)
	}
	if _, body, err := fetch(newClient(false), "http://"+addr+"/pid"); err != nil || pidOf(body) == 0 {
		t.Fatalf("GET /pid right after -D returned (after %s): %q %v", took, body, err)
	}
	if body, err := unixHTTP(sock).Get("http://unix/pid"); err != nil {
		t.Errorf("GET /pid on %s right after -D returned: %v", sock, err)
	} else {
		body.Body.Close()
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !alive(pid) {
		t.Fatalf("pid file holds %q: no running process", b)
	}
	if !slices.Contains(argvHolding(pidFile), pid) {
		t.Fatalf("process %d of the pid file is not the daemon", pid)
	}
	f := statFields(t, pid) // state ppid pgrp session tty_nr
	if f[2] != itoa(pid) || f[3] != itoa(pid) {
		t.Errorf("daemon %d: process group %s, session %s; want a session of its own", pid, f[2], f[3])
	}
	if f[4] != "0" {
		t.Errorf("daemon %d has a controlling terminal (tty_nr %s)", pid, f[4])
	}
	for fd, want := range map[int]string{0: os.DevNull, 1: os.DevNull, 2: errLog} {
		if got, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); got != want {
			t.Errorf("daemon's fd %d is %q, want %q", fd, got, want)
		}
	}

	// kill -TERM $(cat PIDFILE)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, stopTimeout, "the daemon gone after TERM", func() bool { return !alive(pid) })
	assertNothingLeft(t, app)
	for _, p := range []string{pidFile, sock} {
		if exists(p) {
			t.Errorf("%s left behind by the daemon", p)
		}
	}
	if !fileHas(errLog, regexp.MustCompile(`starlight: stopping gracefully \(SIGTERM\)`)) {
		t.Errorf("the error log does not show the stop")
	}
	if !closedPort(addr) {
		t.Errorf("%s still accepts after the daemon stopped", addr)
	}
}

// A daemon that cannot start: the command exits 1 with the reason, and
// nothing stays behind.
func TestProdDaemonStartFailure(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "d.pid")
	errLog := filepath.Join(dir, "d.log")
	app := testApp(t)
	killArgvHolding(t, pidFile)
	code, _, stderr := runStarlight(t, "", "-D", "--pid", pidFile, "--error-log", errLog, "-l", busy.Addr().String(), "--workers", "1", app)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if want := "listen " + busy.Addr().String() + ": address already in use"; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q, want the reason %q", stderr, want)
	}
	eventually(t, stopTimeout, "no daemon left", func() bool { return len(argvHolding(pidFile)) == 0 })
	assertNothingLeft(t, app)
	if exists(pidFile) {
		t.Errorf("pid file written by a daemon that did not start")
	}
}

// A daemon whose app cannot start: the command exits 1 with what the app
// wrote last, and says where the rest of its output went.
func TestProdDaemonAppCannotStart(t *testing.T) {
	t.Parallel()
	fail := filepath.Join(t.TempDir(), "fail")
	if err := os.WriteFile(fail, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"TESTAPP_FAIL_FILE=" + fail}
	errLog := filepath.Join(t.TempDir(), "d.log")
	for _, tc := range []struct {
		name  string
		args  []string
		where string
	}{
		{"no-error-log", nil, "its output was discarded (-D without --error-log)"},
		{"error-log", []string{"--error-log", errLog}, "its output is in " + errLog},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := testApp(t)
			args := append([]string{"-D", "-l", "127.0.0.1:" + itoa(freePort(t)), "--workers", "1"}, tc.args...)
			code, _, stderr := runStarlightEnv(t, "", env, append(args, app)...)
			if code != 1 {
				t.Errorf("exit status %d, want 1", code)
			}
			for _, want := range []string{`after writing "failing at start"`, tc.where} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q does not say %q", stderr, want)
				}
			}
			assertNothingLeft(t, app)
		})
	}
	if b, err := os.ReadFile(errLog); err != nil || !strings.Contains(string(b), "failing at start\n") {
		t.Errorf("the error log has no output of the app: %q, %v", b, err)
	}
}

// ---- privileges -----------------------------------------------------------

// lookupEtc finds the id of name in /etc/passwd or /etc/group.
func lookupEtc(file, name string) (int, bool) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Split(line, ":")
		if len(f) >= 3 && f[0] == name {
			id, err := strconv.Atoi(f[2])
			return id, err == nil
		}
	}
	return 0, false
}

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

// ---- systemd --------------------------------------------------------------

// notifyListener receives what the server sends to $NOTIFY_SOCKET.
type notifyListener struct {
	path string
	msgs chan notifyMsg
}

type notifyMsg struct {
	at   time.Time
	text string
}

func listenNotify(t *testing.T) *notifyListener {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{path: path, msgs: make(chan notifyMsg, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			n.msgs <- notifyMsg{time.Now(), string(buf[:k])}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return n
}

// next returns the next message, failing the test if none comes in time.
func (n *notifyListener) next(t *testing.T, what string) notifyMsg {
	t.Helper()
	select {
	case m := <-n.msgs:
		return m
	case <-time.After(15 * time.Second):
		t.Fatalf("no notification after 15s; want %s", what)
		return notifyMsg{}
	}
}

// rest returns the messages received and not yet taken, up to now: those
// sent before this call, which a mark it sends itself follows.
func (n *notifyListener) rest(t *testing.T) []notifyMsg {
	t.Helper()
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const mark = "END-OF-TEST"
	if _, err := c.Write([]byte(mark)); err != nil {
		t.Fatal(err)
	}
	var rest []notifyMsg
	for {
		m := n.next(t, "the test's own mark")
		if m.text == mark {
			return rest
		}
		rest = append(rest, m)
	}
}

func hasLine(text, line string) bool {
	return slices.Contains(strings.Split(text, "\n"), line)
}

// Socket activation: starlight serves the socket passed as fd 3 and binds
// nothing; it notifies READY=1 once the workers serve, RELOADING=1 and
// READY=1 around a slow restart, and STOPPING=1.
func TestProdSystemdActivation(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	addr := ln.Addr().String()
	// A unix socket too: its file is systemd's, to be left in place.
	sock := filepath.Join(t.TempDir(), "app.sock")
	uln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	uln.SetUnlinkOnClose(false)
	uf, err := uln.File()
	if err != nil {
		t.Fatal(err)
	}
	uln.Close()
	notify := listenNotify(t)
	unused := "127.0.0.1:" + itoa(freePort(t))
	unusedSock := filepath.Join(t.TempDir(), "unused.sock")
	app := testApp(t)
	argv := []string{"sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, starlightBin, "--workers", "2", "-l", unused, "-S", unusedSock, app}
	s := startArgv(t, app, argv, []string{"LISTEN_FDS=2", "LISTEN_FDNAMES=http:unix", "NOTIFY_SOCKET=" + notify.path}, f, uf)
	f.Close() // starlight holds the only copies now
	uf.Close()

	ready := notify.next(t, "READY=1")
	if !hasLine(ready.text, "READY=1") || !hasLine(ready.text, "MAINPID="+itoa(s.pid)) {
		t.Fatalf("first notification %q, want READY=1 and MAINPID=%d", ready.text, s.pid)
	}
	if body := mustFetch(t, s.client, "http://"+addr+"/pid"); pidOf(body) == 0 {
		t.Errorf("GET /pid right after READY=1: %q", body)
	}
	eventually(t, 5*time.Second, "2 ready lines in the log", func() bool { return s.count(reReady) >= 2 })
	for _, line := range s.lines() {
		if reReady.MatchString(line) {
			if ts, ok := stampOf(line); !ok || ts.After(ready.at) {
				t.Errorf("%q logged after READY=1 arrived (%s)", line, ready.at.Format("15:04:05.000"))
			}
		}
	}
	if !regexp.MustCompile(`starlight: using 2 sockets from systemd\n.* starlight: --host, --port, --listen and --socket are ignored: the sockets come from systemd\n.* serving http://` + regexp.QuoteMeta(addr) + `/ unix:` + regexp.QuoteMeta(sock) + ` with`).MatchString(s.stderr.String()) {
		t.Errorf("the log does not show the sockets from systemd:\n%s", s.stderr)
	}
	if body := mustFetch(t, unixHTTP(sock), "http://unix/pid"); pidOf(body) == 0 {
		t.Errorf("GET /pid on the unix socket from systemd: %q", body)
	}
	if !closedPort(unused) {
		t.Errorf("%s (from -l) is bound though systemd passed the sockets", unused)
	}
	if exists(unusedSock) {
		t.Errorf("%s (from -S) is bound though systemd passed the sockets", unusedSock)
	}
	for _, pid := range s.workers() {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		for _, kv := range strings.Split(string(env), "\x00") {
			if strings.HasPrefix(kv, "LISTEN_") {
				t.Errorf("worker %d has %s in its environment", pid, kv)
			}
		}
	}

	s.signal(t, syscall.SIGHUP)
	reloading := notify.next(t, "RELOADING=1")
	if !hasLine(reloading.text, "RELOADING=1") || !regexp.MustCompile(`(?m)^MONOTONIC_USEC=\d+$`).MatchString(reloading.text) {
		t.Errorf("notification after HUP %q, want RELOADING=1 and MONOTONIC_USEC", reloading.text)
	}
	again := notify.next(t, "READY=1 after the reload")
	if !hasLine(again.text, "READY=1") {
		t.Errorf("notification after RELOADING=1 %q, want READY=1", again.text)
	}
	// By then only workers of the new generation take connections.
	for i := 0; i < 4; i++ {
		if body := mustFetch(t, s.client, "http://"+addr+"/pid"); !strings.HasSuffix(body, " 2\n") {
			t.Errorf("a new connection after the READY=1 that ends the reload was answered by %q, a worker of generation 1", body)
		}
	}

	s.signal(t, syscall.SIGTERM)
	stopping := notify.next(t, "STOPPING=1")
	if !hasLine(stopping.text, "STOPPING=1") {
		t.Errorf("notification after TERM %q, want STOPPING=1", stopping.text)
	}
	if code := s.wait(t, stopTimeout); code != 0 {
		t.Errorf("after TERM: %s", s.exitDesc)
	}
	s.assertNoWorkers(t)
	if !closedPort(addr) {
		t.Errorf("the socket from systemd still accepts after exit")
	}
	if !isSocketFile(sock) {
		t.Errorf("starlight removed the socket file %s that systemd made", sock)
	}
	for _, m := range notify.rest(t) {
		t.Errorf("unexpected notification after STOPPING=1: %q", m.text)
	}
}

// refusedWithSystemdSocket runs starlight with args and the app under
// socket activation, with f as the one passed socket, and checks that it
// exits 1 with want in its log and no worker started.
func refusedWithSystemdSocket(t *testing.T, f *os.File, args []string, want string) {
	t.Helper()
	app := testApp(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"-c", `LISTEN_PID=$$ exec "$0" "$@"`, starlightBin}, args...)
	cmd := exec.CommandContext(ctx, "sh", append(argv, app)...)
	cmd.Env = childEnv("LISTEN_FDS=1")
	cmd.ExtraFiles = []*os.File{f}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := startCmd(cmd); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d (%v), want 1", code, err)
	}
	if !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "spawned") {
		t.Errorf("stderr %q, want %q and no worker", stderr.String(), want)
	}
	assertNothingLeft(t, app)
}

// A passed descriptor that is no listening stream socket: exit 1, saying
// which.
func TestProdSystemdBadSocket(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := pc.(*net.UDPConn).File()
	pc.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refusedWithSystemdSocket(t, f, []string{"--workers", "1", "-l", "127.0.0.1:" + itoa(freePort(t))},
		"socket activation: fd 3: not a stream socket")
}

// --reuse-port binds a socket per worker, which a socket from systemd
// cannot give: exit 1, saying so, before any worker starts.
func TestProdSystemdReusePortRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refusedWithSystemdSocket(t, f, []string{"--reuse-port", "--workers", "2"},
		"--reuse-port binds a socket per worker, and the sockets come from systemd")
}

// ---- no pool ----------------------------------------------------------------

// --max-workers 0 (the app execs in starlight's place) under -D and under
// systemd's notify socket: the launcher still learns that it serves, and
// systemd gets READY=1.
func TestProdNoPool(t *testing.T) {
	t.Parallel()
	t.Run("daemon", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "d.pid")
		errLog := filepath.Join(dir, "d.log")
		addr := "127.0.0.1:" + itoa(freePort(t))
		app := testApp(t)
		t.Cleanup(func() { assertNothingLeft(t, app) })
		code, _, stderr := runStarlight(t, "", "-D", "--workers", "0", "--pid", pidFile, "--error-log", errLog, "-l", addr, app)
		if code != 0 {
			t.Errorf("starlight -D --workers 0: exit status %d, stderr %q; want 0", code, stderr)
		}
		_, body, err := fetch(newClient(false), "http://"+addr+"/pid")
		if err != nil {
			t.Fatalf("GET /pid after -D --workers 0 returned: %v", err)
		}
		b, _ := os.ReadFile(pidFile)
		pid := atoi(strings.TrimSpace(string(b)))
		if pidOf(body) != pid {
			t.Errorf("served by %q; the pid file holds %q", body, b)
		}
		// The app in starlight's place holds the pid file's lock: a
		// second start with it is refused.
		app2 := testApp(t)
		code, stderr = runFailing(t, app2, "--workers", "1", "--pid", pidFile, "-l", "127.0.0.1:"+itoa(freePort(t)), app2)
		if code != 1 || !strings.Contains(stderr, "belongs to running process "+itoa(pid)) {
			t.Errorf("a second start with the pid file of the app serving alone: exit %d, %q", code, stderr)
		}
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			eventually(t, stopTimeout, "the daemon gone after TERM", func() bool { return !alive(pid) })
		}
		if exists(pidFile) {
			t.Errorf("pid file left behind after TERM")
		}
	})
	t.Run("notify", func(t *testing.T) {
		t.Parallel()
		notify := listenNotify(t)
		app := testApp(t)
		addr := "127.0.0.1:" + itoa(freePort(t))
		s := startArgv(t, app, []string{starlightBin, "--workers", "0", "-l", addr, app}, []string{"NOTIFY_SOCKET=" + notify.path})
		select {
		case m := <-notify.msgs:
			if !hasLine(m.text, "READY=1") {
				t.Errorf("notification %q, want READY=1", m.text)
			}
		case <-time.After(startTimeout):
			_, body, err := fetch(s.client, "http://"+addr+"/pid")
			t.Errorf("no READY=1 after %s, though serving (GET /pid: %q %v)", startTimeout, body, err)
		}
		s.signal(t, syscall.SIGTERM)
		if code := s.wait(t, stopTimeout); code != 0 {
			t.Errorf("after TERM: %s", s.exitDesc)
		}
	})
}

// A client that connects to a TLS port and never sends its handshake is
// dropped near --timeout.
func TestProdTLSStalledHandshake(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	addr := "127.0.0.1:" + itoa(freePort(t))
	s := startServer(t, testApp(t), 1, "--timeout", "1", "--ssl", "--ssl-key-file", p.keyFile, "--ssl-cert-file", p.certFile, "-l", addr)
	begin := time.Now() // before the connection: it has 1s from its accept
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(begin.Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	took := time.Since(begin)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) || took > 5*time.Second || took < time.Second {
		t.Errorf("a silent TLS client: read returned %v after %s, want the server to close it near 1s", err, took.Round(time.Millisecond))
	}
	s.stop(t)
}
