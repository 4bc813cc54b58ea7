package prefork

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"slices"
)

// checkTLS validates the TLS options before anything binds: the files
// exist, are readable, and the key matches the certificate. Workers load
// the same files again at every start, so a slow restart picks up renewed
// certificates.
func checkTLS(c *Config) error {
	if !c.SSL {
		if c.SSLKeyFile != "" || c.SSLCertFile != "" {
			return usageErrorf("--ssl-key-file and --ssl-cert-file need --ssl")
		}
		return nil
	}
	if c.SSLKeyFile == "" || c.SSLCertFile == "" {
		return usageErrorf("--ssl needs --ssl-key-file and --ssl-cert-file")
	}
	for _, f := range []struct{ opt, path string }{
		{"--ssl-key-file", c.SSLKeyFile}, {"--ssl-cert-file", c.SSLCertFile},
		{"--ssl-ca-file", c.SSLCAFile}, {"--ssl-client-ca-file", c.SSLClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return usageErrorf("%s: %v", f.opt, err)
		}
	}
	if _, err := tls.LoadX509KeyPair(c.SSLCertFile, c.SSLKeyFile); err != nil {
		return usageErrorf("--ssl-cert-file/--ssl-key-file: %v", err)
	}
	ca := c.SSLClientCAFile
	if ca == "" {
		ca = c.SSLCAFile
	}
	if c.SSLVerifyMode > 0 && ca == "" {
		return usageErrorf("--ssl-verify-mode %d needs --ssl-ca-file or --ssl-client-ca-file", c.SSLVerifyMode)
	}
	if ca != "" {
		pem, _ := os.ReadFile(ca)
		if !x509.NewCertPool().AppendCertsFromPEM(pem) {
			return usageErrorf("--ssl-ca-file: %s holds no PEM certificate", ca)
		}
	}
	return nil
}

// readTLSPEM reads the certificate chain and the key as one PEM text.
func readTLSPEM(c *Config) ([]byte, error) {
	cert, err := os.ReadFile(c.SSLCertFile)
	if err != nil {
		return nil, fmt.Errorf("--ssl-cert-file: %w", err)
	}
	key, err := os.ReadFile(c.SSLKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--ssl-key-file: %w", err)
	}
	return slices.Concat(cert, []byte("\n"), key), nil
}

// tlsPEMFile returns the read end of a pipe that carries the certificate
// and key the master read before it switched user, for a worker (nil if
// it read none: workers read the files themselves). The text is written
// by a goroutine of its own, as it may not fit in the pipe's buffer.
func (m *Master) tlsPEMFile() (*os.File, error) {
	if m.tlsPEM == nil {
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	pem := m.tlsPEM
	go func() {
		w.Write(pem) //nolint:errcheck // a worker that died early reads nothing
		w.Close()
	}()
	return r, nil
}

// rereadTLS is a reload's new look at the certificate and key a master
// that switched user read at start: renewed files are used if it can still
// read them, else the workers keep getting the ones read at start.
func (m *Master) rereadTLS() {
	if m.tlsPEM == nil {
		return
	}
	pem, err := readTLSPEM(&m.cfg)
	if err != nil {
		m.emit(Event{Kind: EventError, Message: fmt.Sprintf("TLS: %v; the new workers get the certificate and key read at start", err)})
		return
	}
	m.tlsPEM = pem
}
