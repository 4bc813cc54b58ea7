package httpserver

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/starlight-go/starlight/internal/proto"
)

// loadTLS builds the TLS configuration from files. It runs at every worker
// start, so a slow restart picks up renewed certificates.
func loadTLS(t *proto.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	c := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
	}
	caFile := t.ClientCAFile
	if caFile == "" {
		caFile = t.CAFile
	}
	if t.VerifyMode > 0 {
		if caFile == "" {
			return nil, fmt.Errorf("tls: verify mode %d needs --ssl-ca-file or --ssl-client-ca-file: %w", t.VerifyMode, errNoCert)
		}
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: %s holds no PEM certificate", caFile)
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if t.VerifyMode >= 2 {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c, nil
}
