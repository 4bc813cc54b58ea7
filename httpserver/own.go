package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
)

// ownServer adopts the app's own http.Server (ServeServer): what the app
// set stays, starlight fills in what it left unset, and starlight's hooks
// run before the app's.
//
//   - Handler: wrapped (accounting, the scoreboard, the access log); nil
//     is http.DefaultServeMux.
//   - ConnContext: the app's, then starlight's (which adds its own value
//     to the context the app's returned).
//   - ConnState: starlight's, then the app's.
//   - ErrorLog: the app's, for net/http's messages and starlight's about
//     requests (panics); starlight's when unset.
//   - MaxHeaderBytes: the app's replaces the overall cap of MaxHeaderBytes
//     (48 KiB), with net/http's meaning (4 KiB more are read before 431);
//     the per-line limits of the command line still apply.
//   - ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout: the
//     app's apply as net/http applies them, along with --timeout and
//     --keepalive-timeout: the shorter wins.
//   - TLSConfig: see appTLS.
//   - BaseContext, Protocols, HTTP2, DisableGeneralOptionsHandler,
//     RegisterOnShutdown: the app's, untouched.
func (s *server) ownServer(own *http.Server) {
	s.srv = own
	if own.ErrorLog != nil {
		s.logger = own.ErrorLog
	} else {
		own.ErrorLog = s.logger
	}
	if own.MaxHeaderBytes == 0 {
		own.MaxHeaderBytes = MaxHeaderBytes - headerSlack
	}
	own.Handler = s
	if cc := own.ConnContext; cc != nil {
		own.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return s.connContext(cc(ctx, c), c)
		}
	} else {
		own.ConnContext = s.connContext
	}
	if cs := own.ConnState; cs != nil {
		own.ConnState = func(c net.Conn, st http.ConnState) {
			s.connState(c, st)
			cs(c, st)
		}
	} else {
		own.ConnState = s.connState
	}
}

// appTLS merges the app's TLSConfig, if it set one, with base, built from
// the command line (--ssl-cert-file and the rest):
//
//   - The app's certificates (GetCertificate, GetConfigForClient or
//     Certificates) replace the certificate files, which may then be left
//     out.
//   - The app's cipher suites, curves, MinVersion, MaxVersion and the rest
//     are kept; MinVersion is TLS 1.2 when unset.
//   - --ssl-verify-mode with its CA file wins over the app's ClientAuth
//     and ClientCAs when given.
//   - NextProtos is starlight's (ALPN: h2 unless --no-http2, then
//     http/1.1), with the app's own protocols after them.
func (s *server) appTLS(base *tls.Config) (*tls.Config, error) {
	app := s.srv.TLSConfig
	if app == nil {
		if len(base.Certificates) == 0 {
			return nil, errNoAppCert
		}
		return base, nil
	}
	c := app.Clone()
	if c.GetCertificate == nil && c.GetConfigForClient == nil && len(c.Certificates) == 0 {
		if len(base.Certificates) == 0 {
			return nil, errNoAppCert
		}
		c.Certificates = base.Certificates
	}
	if c.MinVersion == 0 {
		c.MinVersion = base.MinVersion
	}
	if base.ClientAuth != tls.NoClientCert {
		c.ClientAuth, c.ClientCAs = base.ClientAuth, base.ClientCAs
	}
	protos := base.NextProtos
	for _, p := range c.NextProtos {
		if !contains(protos, p) {
			protos = append(protos, p)
		}
	}
	c.NextProtos = protos
	return c, nil
}

var errNoAppCert = errors.New("tls: --ssl without --ssl-cert-file and --ssl-key-file needs the app's certificates: a TLSConfig with GetCertificate or Certificates, given to httpserver.ServeServer")

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
