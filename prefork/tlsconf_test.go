package prefork

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starlight-go/starlight/status"
)

// events records what a master reports.
type events struct{ got []status.Event }

func (e *events) Event(ev status.Event) { e.got = append(e.got, ev) }
func (e *events) Log(status.LogLine)    {}

// selfSigned returns a certificate and its key, as PEM.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// A master that read the certificate and key before switching user hands
// them to workers in a memory file they read from its start; a reload
// takes renewed files only when they make a pair.
func TestTLSPEMForWorkers(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePair := func(cert, key []byte) {
		t.Helper()
		if err := os.WriteFile(certFile, cert, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	certA, keyA := selfSigned(t, "a")
	certB, keyB := selfSigned(t, "b")
	writePair(certA, keyA)
	obs := &events{}
	m := &Master{cfg: Config{SSL: true, SSLCertFile: certFile, SSLKeyFile: keyFile}, obs: obs, live: true}
	var err error
	if m.tlsPEM, err = readTLSPEM(&m.cfg); err != nil {
		t.Fatal(err)
	}
	read := func() string {
		t.Helper()
		f, err := m.tlsPEMFile()
		if err != nil || f == nil {
			t.Fatalf("tlsPEMFile: %v %v", f, err)
		}
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(); got != read() || !strings.Contains(got, string(certA)) || !strings.Contains(got, string(keyA)) {
		t.Fatalf("a worker reads %q, and the next the same: want pair a", got)
	}

	writePair(certB, keyA) // a renewal caught half-way
	m.rereadTLS()
	if got := read(); !strings.Contains(got, string(certA)) {
		t.Errorf("after a reload over a certificate and key that do not match, workers get %q, want pair a", got)
	}
	if len(obs.got) != 1 || !strings.Contains(obs.got[0].Message, "the new workers get the certificate and key read before") {
		t.Errorf("events %v, want one saying the pair read before is kept", obs.got)
	}

	writePair(certB, keyB)
	m.rereadTLS()
	if got := read(); !strings.Contains(got, string(certB)) || !strings.Contains(got, string(keyB)) {
		t.Errorf("after a reload over a renewed pair, workers get %q, want pair b", got)
	}
	m.tlsMemfd.Close()
}
