package prefork

import (
	"crypto/tls"
	"crypto/x509"
	"os"
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
