package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// headers56K is a GET of /headers with 8 field lines of 7000 bytes: 56 KB
// of headers, over the 48 KiB starlight allows by default, each line under
// the per-line limit.
func headers56K(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		req.Header.Set(fmt.Sprintf("X-Big-%d", i), strings.Repeat("h", 7000))
	}
	return req
}

// An app's own http.Server, through httpserver.ServeServer, keeps its
// settings: its MaxHeaderBytes (256 KiB) serves 56 KB of headers that
// Serve refuses with 431, and its ErrorLog gets the panic of a handler.
func TestServeServerKeepsAppSettings(t *testing.T) {
	plain := startWS(t, 1, nil)
	resp, err := plain.client.Do(headers56K(t, "http://"+plain.addr+"/headers"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("56 KB of headers to Serve: %d, want 431", resp.StatusCode)
	}

	s := startWS(t, 1, []string{"WSAPP_SERVE_SERVER=1"})
	resp, err = s.client.Do(headers56K(t, "http://"+s.addr+"/headers"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("56 KB of headers to ServeServer with MaxHeaderBytes 256 KiB: %d, want 200", resp.StatusCode)
	}
	code, _, err := s.get(s.client, "/panic")
	if err != nil || code != http.StatusInternalServerError {
		t.Fatalf("GET /panic: %d %v, want 500", code, err)
	}
	s.waitLog(t, 5*time.Second, regexp.MustCompile(`wsapp-errorlog: panic serving GET /panic: wsapp panics on purpose`))
	// The websocket and the accounting work as with Serve.
	c, _ := dialWS(t, s)
	defer c.Close()
	if err := echo(c, "own server"); err != nil {
		t.Fatal(err)
	}
}

// The app's TLSConfig.GetCertificate replaces the certificate files
// (--ssl is given without them): each server name gets its own
// certificate, and the app's MinVersion (TLS 1.3) holds.
func TestServeServerGetCertificate(t *testing.T) {
	p := newPKI(t)
	dir := t.TempDir()
	for _, name := range []string{"a.test", "b.test"} {
		c := issue(t, name, p.ca, x509.ExtKeyUsageServerAuth)
		writeAtomic(t, filepath.Join(dir, name+".pem"), c.certPEM)
		writeAtomic(t, filepath.Join(dir, name+".key"), c.keyPEM)
	}
	s := startWS(t, 1, []string{"WSAPP_SERVE_SERVER=1", "WSAPP_CERTS=" + dir}, "--ssl")
	for _, name := range []string{"a.test", "b.test"} {
		conf := &tls.Config{ServerName: name, InsecureSkipVerify: true}
		conn, err := tls.Dial("tcp", s.addr, conf)
		if err != nil {
			t.Fatalf("TLS to %s: %v", name, err)
		}
		st := conn.ConnectionState()
		conn.Close()
		if cn := st.PeerCertificates[0].Subject.CommonName; cn != name {
			t.Errorf("server name %s got the certificate of %q", name, cn)
		}
		if st.Version != tls.VersionTLS13 {
			t.Errorf("%s: %s, want TLS 1.3", name, tls.VersionName(st.Version))
		}
	}
	old := &tls.Config{ServerName: "a.test", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
	if conn, err := tls.Dial("tcp", s.addr, old); err == nil {
		conn.Close()
		t.Fatal("a TLS 1.2 client was served: the app's MinVersion was dropped")
	}
	// A request over it is served.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "b.test", InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	body := mustFetch(t, client, "https://"+s.addr+"/pid")
	if body == "" {
		t.Fatal("empty answer over TLS")
	}
}

// An app not converted yet calls http.ListenAndServe on the address the
// master holds: its first worker fails with "address already in use",
// and the master says so at once, with what to do, instead of backing
// off worker after worker.
func TestAppListeningItselfReportedAtOnce(t *testing.T) {
	app := wsApp(t)
	addr := "127.0.0.1:" + itoa(freePort(t))
	begin := time.Now()
	s := startArgv(t, app, []string{starlightBin, "--quiet", "--workers", "2", "-l", addr, app}, []string{"WSAPP_LISTEN_ITSELF=" + addr})
	if code := s.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("reported %s after the start, want within a second or so of the first worker's failure", d)
	}
	want := regexp.MustCompile(`the app cannot start: .*address already in use.*hand its handler to httpserver\.Serve`)
	if s.count(want) == 0 {
		t.Fatalf("no line matching %s in:\n%s", want, s.stderr)
	}
}
