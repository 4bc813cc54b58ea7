package prefork

import (
	"slices"
	"time"

	"github.com/starlight-go/starlight/internal/proto"
)

// Defaults, the same as the Perl Starlight's where it has the option.
const (
	defaultPort             = 5000
	defaultWorkers          = 10
	defaultMaxReqsPerChild  = 1000
	defaultTimeout          = proto.DefaultTimeout
	defaultKeepaliveTimeout = proto.DefaultKeepaliveTimeout
	defaultMaxKeepaliveReqs = 1
	defaultMainProcessDelay = 100 * time.Millisecond
	defaultGracefulTimeout  = proto.DefaultGracefulTimeout
	defaultWorkerTimeout    = 30 * time.Second
	defaultEnv              = proto.DefaultEnv

	// MaxWorkers bounds --max-workers and scaling up; the scoreboard has
	// room for twice as many, for the overlap of a slow restart.
	MaxWorkers = 512
)

// Config is every option of the starlight command. The zero value is not
// useful; start from DefaultConfig.
type Config struct {
	App     string   // APP: a Go main package directory or an executable
	AppArgs []string // arguments after "--", passed to the app

	// Listening.
	Host   string   // -o/--host: address of the -p listener; "" = all
	Port   int      // -p/--port
	Listen []string // -l/--listen: HOST:PORT, :PORT, [::1]:PORT, /path.sock, @abstract
	Socket string   // -S/--socket: a unix socket path
	IPv6   bool     // --ipv6: with no --host, -p listens on [::] as well
	// ReusePort (--reuse-port) gives each worker TCP sockets of its own,
	// bound with SO_REUSEPORT: the kernel spreads connections over them.
	ReusePort bool

	// TLS.
	SSL             bool
	SSLKeyFile      string
	SSLCertFile     string
	SSLCAFile       string
	SSLClientCAFile string
	SSLVerifyMode   int // 0 none, 1 verify a client certificate if given, 2 and 3 require one

	// Pool.
	Workers          int           // --max-workers; 0 = no pool, the app serves in this process
	MaxReqsPerChild  uint64        // 0 = unlimited ("inf")
	MinReqsPerChild  uint64        // 0 = unset; else the budget is random in [min, max]
	SpawnInterval    time.Duration // 0 = start workers as fast as they come up
	MainProcessDelay time.Duration // how often the master looks over the pool
	GracefulTimeout  time.Duration // how long a graceful stop waits before killing
	// WorkerTimeout (--worker-timeout): a ready worker whose heartbeat
	// stops for this long is frozen: its stacks are logged, it is killed
	// and replaced. 0 = off.
	WorkerTimeout time.Duration
	// MaxWorkerMemory (--max-worker-memory): a worker whose resident
	// size passes it is recycled, in bytes. 0 = no limit.
	MaxWorkerMemory uint64

	// HTTP.
	Timeout          time.Duration
	KeepaliveTimeout time.Duration
	MaxKeepaliveReqs int // 1 = keep-alive off; 0 = unlimited
	// Request limits (--limit-request-line, --limit-request-fields,
	// --limit-request-field-size): over them a request is refused with
	// 414 or 431. 0 is unlimited for the line and the field size; for
	// the fields it is 32768, as in gunicorn.
	LimitRequestLine      int
	LimitRequestFields    int
	LimitRequestFieldSize int
	// RequestTimeout (--request-timeout): a request still in flight
	// after it has its context cancelled; one that has not returned
	// --graceful-timeout later gets its worker replaced. 0 = off.
	RequestTimeout time.Duration
	// LogSlow (--log-slow): requests that took longer are logged. 0 = off.
	LogSlow time.Duration
	// NoHTTP2 (--no-http2): ALPN offers http/1.1 only on --ssl
	// listeners. H2C (--h2c): HTTP/2 without TLS, to clients that start
	// with its preface.
	NoHTTP2 bool
	H2C     bool

	// Behind a proxy. ForwardedAllowIPs (--forwarded-allow-ips) are the
	// peers whose X-Forwarded-For, Forwarded and X-Forwarded-Proto are
	// believed, and whose PROXY protocol headers are read: addresses,
	// CIDR networks, * and unix. ForwardedSetRemoteAddr puts the
	// forwarded client in r.RemoteAddr; ProxyProtocol reads PROXY v1 and
	// v2 headers.
	ForwardedAllowIPs      []string
	ForwardedSetRemoteAddr bool
	ProxyProtocol          bool

	// Process.
	User      string
	Group     string
	Umask     int // -1 = unchanged
	Daemonize bool
	PidFile   string
	ErrorLog  string
	AccessLog string // "-" = stdout
	Env       string
	Quiet     bool

	// Watching (control.go, metrics.go).
	// Control (--control) is the control socket's path: "" = the
	// default (internal/control.DefaultPath), ControlNone = no socket.
	Control string
	// MetricsListen (--metrics-listen) is where /metrics is served,
	// HOST:PORT or a unix socket path; "" = nowhere.
	MetricsListen string

	// Reload.
	Reload       bool     // -r: watch the app
	ReloadDirs   []string // -R: watch these instead
	NoReload     bool     // --no-reload: no watching even under the dashboard
	ReloadExt    []string // --reload-ext
	ReloadIgnore []string // --reload-ignore

	// Set by the launcher, not by options.
	// CaptureOutput: the observer shows the workers' output (a
	// dashboard): their lines go to it, tagged, and access lines are
	// always captured, for it to show on demand.
	CaptureOutput bool
	// ReloadByDefault: watch a source directory APP without -r (the
	// dashboard's default; --no-reload still turns it off).
	ReloadByDefault bool
	// HangupMayBeTerminal: SIGHUP may mean that the controlling terminal
	// went away (a dashboard's): when it no longer answers, the master
	// stops instead of reloading.
	HangupMayBeTerminal bool
	// Launcher is the -D command waiting for this daemon, or nil.
	Launcher Launcher

	// Set by ParseArgs: whether -o, -p, -l or -S was given (sockets from
	// systemd replace them all), and notes the master logs as it starts
	// (options that another one overrides).
	AddressGiven bool
	Notes        []string
}

// DefaultConfig returns the configuration with every default applied.
func DefaultConfig() Config {
	return Config{
		Port:             defaultPort,
		Workers:          defaultWorkers,
		MaxReqsPerChild:  defaultMaxReqsPerChild,
		MainProcessDelay: defaultMainProcessDelay,
		GracefulTimeout:  defaultGracefulTimeout,
		WorkerTimeout:    defaultWorkerTimeout,
		Timeout:          defaultTimeout,
		KeepaliveTimeout: defaultKeepaliveTimeout,
		MaxKeepaliveReqs: defaultMaxKeepaliveReqs,
		Umask:            -1,
		Env:              defaultEnv,

		LimitRequestLine:      proto.DefaultLimitRequestLine,
		LimitRequestFields:    proto.DefaultLimitRequestFields,
		LimitRequestFieldSize: proto.DefaultLimitRequestFieldSize,
		ForwardedAllowIPs:     slices.Clone(proto.DefaultForwardedAllowIPs),
	}
}
