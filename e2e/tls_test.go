package e2e

import (
	"bufio"
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
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

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
		{"key-without-cert", []string{"--ssl", "--ssl-key-file", p.keyFile}, "--ssl needs both --ssl-key-file and --ssl-cert-file"},
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
