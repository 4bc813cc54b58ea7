// Package proto is the contract between the starlight master and the worker
// processes it starts: the environment variables, the inherited file
// descriptors and the settings a worker serves with. Master and worker are
// often different binaries built at different times, so the spec carries a
// version and a worker refuses a spec it does not understand.
package proto

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Version is bumped whenever Spec or the scoreboard layout changes.
const Version = 7

// Defaults the master and an app run by hand share, the same as the Perl
// Starlight's where it has the option.
const (
	DefaultTimeout          = 300 * time.Second
	DefaultKeepaliveTimeout = 2 * time.Second
	DefaultGracefulTimeout  = 30 * time.Second
	DefaultEnv              = "development"

	// Request limits, gunicorn's names, defaults and ranges: 0 is
	// unlimited for the line and the field size.
	DefaultLimitRequestLine      = 4094 // bytes of the request line, CRLF not counted; at most 8190
	DefaultLimitRequestFields    = 100  // field lines in a head (and in trailers); at most 32768
	DefaultLimitRequestFieldSize = 8190 // bytes of one field line, CRLF not counted
	MaxLimitRequestLine          = 8190
	MaxLimitRequestFields        = 32768
)

// DefaultForwardedAllowIPs are the peers whose forwarding headers are
// believed without --forwarded-allow-ips: a proxy on the same machine.
var DefaultForwardedAllowIPs = []string{"127.0.0.1", "::1"}

// CheckForwardedAllowIP checks one value of --forwarded-allow-ips: an IP
// address, a network in CIDR notation, * (any peer) or unix (clients on
// a unix socket).
func CheckForwardedAllowIP(a string) error {
	if a == "*" || a == "unix" {
		return nil
	}
	if strings.Contains(a, "/") {
		if _, err := netip.ParsePrefix(a); err != nil {
			return fmt.Errorf("%q is not a network (CIDR, 10.0.0.0/8)", a)
		}
		return nil
	}
	if _, err := netip.ParseAddr(a); err != nil {
		return fmt.Errorf("%q is not an IP address, a network, * or unix", a)
	}
	return nil
}

// EnvSpec holds the JSON Spec; its presence makes a program a worker.
const EnvSpec = "STARLIGHT_WORKER"

// EnvEnv is the value of -E/--env, as the app sees it.
const EnvEnv = "STARLIGHT_ENV"

// Listener is one inherited listening socket.
type Listener struct {
	FD      int    `json:"fd"`
	Network string `json:"network"` // tcp, unix
	Addr    string `json:"addr"`    // as bound, for messages
	TLS     bool   `json:"tls"`
	// Lane: one of the sockets of an address bound with SO_REUSEPORT
	// (--reuse-port). The kernel picks the socket of each connection, so
	// waiting for peers to accept (the worker's balancing) is pointless.
	Lane bool `json:"lane,omitempty"`
}

// TLS holds the files a TLS listener is configured from. Workers read
// them at start, so a slow restart picks up renewed certificates.
type TLS struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	// PEMFD, when set, is the read end of a pipe carrying the certificate
	// chain and the key as PEM, to be read to its end instead of the two
	// files: a master that switches user (--user) reads them first, as
	// the key is often readable by root alone.
	PEMFD        int    `json:"pem_fd,omitempty"`
	CAFile       string `json:"ca_file,omitempty"`
	ClientCAFile string `json:"client_ca_file,omitempty"`
	VerifyMode   int    `json:"verify_mode"` // 0 none, 1 verify if given, 2/3 require
}

// Spec is everything a worker needs to know.
type Spec struct {
	Version    int        `json:"version"`
	MasterPID  int        `json:"master_pid"`
	Listeners  []Listener `json:"listeners"`
	Standalone bool       `json:"standalone,omitempty"` // --max-workers 0: no master, no scoreboard
	// Cleanup lists files a standalone server removes when it exits: the
	// pid file and unix socket files the master it replaced created.
	Cleanup []string `json:"cleanup,omitempty"`
	// HeldFDs are descriptors a standalone server keeps open for the
	// master it replaced, never passing them on: the locks of the pid file
	// and of the build directory.
	HeldFDs []int `json:"held_fds,omitempty"`
	// ErrorLog and AccessLog are the log files a standalone server
	// reopens on SIGUSR1 (onto stderr and AccessFD), as the master would.
	ErrorLog  string `json:"error_log,omitempty"`
	AccessLog string `json:"access_log,omitempty"`

	Slot         int `json:"slot"`
	Slots        int `json:"slots"`
	ScoreboardFD int `json:"scoreboard_fd"`
	DeathFD      int `json:"death_fd"`  // read end of a pipe the master holds open; EOF = master gone
	ReadyFD      int `json:"ready_fd"`  // write end: NoticeReady when serving, NoticeDraining when draining
	AccessFD     int `json:"access_fd"` // where access-log lines go; -1 = none
	Generation   int `json:"generation"`

	Budget           uint64        `json:"budget"` // requests before a graceful exit; 0 = unlimited
	Timeout          time.Duration `json:"timeout"`
	KeepaliveTimeout time.Duration `json:"keepalive_timeout"`
	MaxKeepaliveReqs int           `json:"max_keepalive_reqs"`
	GracefulTimeout  time.Duration `json:"graceful_timeout"`
	// Request limits (--limit-request-line, --limit-request-fields,
	// --limit-request-field-size); 0 = unlimited.
	LimitRequestLine      int           `json:"limit_request_line"`
	LimitRequestFields    int           `json:"limit_request_fields"`
	LimitRequestFieldSize int           `json:"limit_request_field_size"`
	RequestTimeout        time.Duration `json:"request_timeout,omitempty"` // 0 = off
	LogSlow               time.Duration `json:"log_slow,omitempty"`        // 0 = off
	TLS                   *TLS          `json:"tls,omitempty"`
	// NoHTTP2 turns HTTP/2 over TLS off (--no-http2): ALPN offers
	// http/1.1 only. H2C serves HTTP/2 without TLS to clients that
	// start with its preface (--h2c, prior knowledge).
	NoHTTP2 bool `json:"no_http2,omitempty"`
	H2C     bool `json:"h2c,omitempty"`
	// ForwardedAllowIPs are the peers whose X-Forwarded-For, Forwarded
	// and X-Forwarded-Proto are believed, and whose PROXY protocol
	// headers are read (--forwarded-allow-ips): addresses, CIDR
	// networks, * (any) and unix (unix-socket clients).
	ForwardedAllowIPs []string `json:"forwarded_allow_ips,omitempty"`
	// ForwardedSetRemoteAddr puts the forwarded client's address in
	// r.RemoteAddr (--forwarded-set-remote-addr).
	ForwardedSetRemoteAddr bool `json:"forwarded_set_remote_addr,omitempty"`
	// ProxyProtocol reads PROXY protocol v1 and v2 headers
	// (--proxy-protocol).
	ProxyProtocol bool `json:"proxy_protocol,omitempty"`
}

// Encode returns the spec as the value of EnvSpec.
func (s *Spec) Encode() string {
	s.Version = Version
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a Spec always marshals
	}
	return string(b)
}

// FromEnv returns the spec in the environment, or nil if this process is
// not a worker.
func FromEnv() (*Spec, error) {
	v, ok := os.LookupEnv(EnvSpec)
	if !ok {
		return nil, nil
	}
	var s Spec
	if err := json.Unmarshal([]byte(v), &s); err != nil {
		return nil, fmt.Errorf("%s: %w", EnvSpec, err)
	}
	if s.Version != Version {
		return nil, fmt.Errorf("%s: protocol version %d, this program speaks %d: rebuild the app against the same starlight", EnvSpec, s.Version, Version)
	}
	return &s, nil
}

// Notices a worker writes on its ready pipe, one byte each.
const (
	NoticeReady    byte = 1 // it serves
	NoticeDraining byte = 2 // it stopped accepting on its own (budget, harakiri) and finishes its requests
)

// ClientAuth is how a TLS listener checks client certificates: with
// VerifyMode 0 not at all; 1 verifies one if sent; 2 and 3 require one.
// The CA certificates come from ClientCAFile, else CAFile. The error names
// the option at fault, for the master's start and a worker's alike.
func (t *TLS) ClientAuth() (tls.ClientAuthType, *x509.CertPool, error) {
	if t.VerifyMode <= 0 {
		return tls.NoClientCert, nil, nil
	}
	opt, file := "--ssl-client-ca-file", t.ClientCAFile
	if file == "" {
		opt, file = "--ssl-ca-file", t.CAFile
	}
	if file == "" {
		return 0, nil, fmt.Errorf("--ssl-verify-mode %d needs --ssl-ca-file or --ssl-client-ca-file", t.VerifyMode)
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", opt, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return 0, nil, fmt.Errorf("%s: %s holds no PEM certificate", opt, file)
	}
	if t.VerifyMode >= 2 {
		return tls.RequireAndVerifyClientCert, pool, nil
	}
	return tls.VerifyClientCertIfGiven, pool, nil
}
