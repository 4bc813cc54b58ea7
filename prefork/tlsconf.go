package prefork

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/starlight-go/starlight/status"
	"golang.org/x/sys/unix"
)

// checkTLS validates the TLS options before anything binds: the files
// exist, are readable, and the key matches the certificate. Workers load
// the same files again at every start, so a slow restart picks up renewed
// certificates.
func checkTLS(c *Config) error {
	if !c.SSL {
		return nil // ParseArgs refused --ssl-* options without --ssl
	}
	// Without either file the app supplies its certificates (a
	// TLSConfig given to httpserver.ServeServer); a worker says so if it
	// does not.
	files := c.SSLKeyFile != "" || c.SSLCertFile != ""
	if files && (c.SSLKeyFile == "" || c.SSLCertFile == "") {
		return &OptionError{errors.New("--ssl needs both --ssl-key-file and --ssl-cert-file, or neither when the app supplies its certificates (httpserver.ServeServer)")}
	}
	for _, f := range []struct{ opt, path string }{
		{"--ssl-key-file", c.SSLKeyFile}, {"--ssl-cert-file", c.SSLCertFile},
		{"--ssl-ca-file", c.SSLCAFile}, {"--ssl-client-ca-file", c.SSLClientCAFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			return &OptionError{fmt.Errorf("%s: %w", f.opt, err)}
		}
	}
	if _, err := tls.LoadX509KeyPair(c.SSLCertFile, c.SSLKeyFile); files && err != nil {
		return &OptionError{fmt.Errorf("--ssl-cert-file/--ssl-key-file: %w", err)}
	}
	if _, _, err := tlsSpecOf(c).ClientAuth(); err != nil {
		return &OptionError{err}
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

// tlsPEMFile returns the certificate and key the master read before it
// switched user, in an anonymous memory file (memfd) that every worker
// reads from its start with pread; nil if the master read none (workers
// then read the files themselves). The master keeps it open until a
// reload reads the files anew.
func (m *Master) tlsPEMFile() (*os.File, error) {
	if m.tlsPEM == nil {
		return nil, nil
	}
	if m.tlsMemfd == nil {
		fd, err := unix.MemfdCreate("starlight-tls", unix.MFD_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("passing the certificate to workers: %w", err)
		}
		f := os.NewFile(uintptr(fd), "starlight-tls")
		if _, err := f.Write(m.tlsPEM); err != nil {
			f.Close()
			return nil, fmt.Errorf("passing the certificate to workers: %w", err)
		}
		m.tlsMemfd = f
	}
	return m.tlsMemfd, nil
}

// rereadTLS is a reload's new look at the certificate and key a master
// that switched user read at start: renewed files are used if it can still
// read them and they make a pair, else the workers keep getting the ones
// read before.
func (m *Master) rereadTLS() {
	if m.tlsPEM == nil {
		return
	}
	pem, err := readTLSPEM(&m.cfg)
	if err == nil {
		if _, perr := tls.X509KeyPair(pem, pem); perr != nil {
			err = fmt.Errorf("--ssl-cert-file/--ssl-key-file: %w", perr)
		}
	}
	if err != nil {
		m.emit(status.Event{Kind: status.EventError, Message: fmt.Sprintf("TLS: %v; the new workers get the certificate and key read before", err)})
		return
	}
	m.tlsPEM = pem
	if m.tlsMemfd != nil {
		m.tlsMemfd.Close() // started workers have their copies
		m.tlsMemfd = nil
	}
}
