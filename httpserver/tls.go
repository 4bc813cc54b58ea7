package httpserver

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"

	"github.com/starlight-go/starlight/internal/proto"
)

// loadKeyPair reads the certificate and key from the memory file the
// master passes when it read them (before switching user), else from
// their files.
func loadKeyPair(t *proto.TLS) (tls.Certificate, error) {
	if t.PEMFD <= 0 {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return cert, fmt.Errorf("%s, %s: %w", t.CertFile, t.KeyFile, err)
		}
		return cert, nil
	}
	// A memory file the master shares with every worker: read it with
	// pread, from its start, leaving the shared offset alone.
	f := os.NewFile(uintptr(t.PEMFD), "tls-pem")
	defer f.Close()
	st, err := f.Stat()
	var pem []byte
	if err == nil {
		pem, err = io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls: reading %s and %s from the master: %w", t.CertFile, t.KeyFile, err)
	}
	cert, err := tls.X509KeyPair(pem, pem)
	if err != nil {
		return cert, fmt.Errorf("%s, %s (read by the master): %w", t.CertFile, t.KeyFile, err)
	}
	return cert, nil
}

// loadTLS builds the TLS configuration from files. It runs at every worker
// start, so a slow restart picks up renewed certificates.
func loadTLS(t *proto.TLS, http2 bool) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
	}
	if http2 {
		c.NextProtos = []string{"h2", "http/1.1"} // as net/http's ListenAndServeTLS
	}
	if t.CertFile != "" || t.PEMFD > 0 {
		// Else the app supplies its certificates (ServeServer).
		cert, err := loadKeyPair(t)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	auth, pool, err := t.ClientAuth()
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c.ClientAuth, c.ClientCAs = auth, pool
	return c, nil
}
