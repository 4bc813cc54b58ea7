package cli

import (
	"math"

	"github.com/spf13/pflag"

	"github.com/starlight-go/starlight/internal/proto"
	"github.com/starlight-go/starlight/prefork"
)

// option is one command-line option: how it is parsed, and what --help and
// the README say of it. The README's table of options is checked against
// these (readme_test.go), so each fact about an option is written here once.
type option struct {
	name  string // the long name, without --
	short string // one letter, or ""
	alias string // another long name, or ""
	arg   string // what --help calls its value (PORT, SECS); "" for a switch
	def   string // its default as --help and the README say it; "" for none
	help  string // what it does
	// define adds the flag to fs, storing into c.
	define func(fs *pflag.FlagSet, c *prefork.Config)
}

// group is a heading of --help and its options.
type group struct {
	title   string
	options []option
}

// groups is every option of the starlight command, as --help lists them.
var groups = []group{
	{"Listening", []option{
		{name: "host", short: "o", arg: "HOST", def: "all addresses",
			help:   "address to listen on with --port: an IP address or a host name",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVarP(&c.Host, "host", "o", c.Host, "") }},
		{name: "port", short: "p", arg: "PORT", def: "5000",
			help:   "TCP port",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.VarP(&portValue{&c.Port}, "port", "p", "") }},
		{name: "listen", short: "l", arg: "ADDR",
			help:   "listen on ADDR, repeatable: HOST:PORT, :PORT, [::1]:PORT, /path.sock, @abstract (replaces --host and --port)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringArrayVarP(&c.Listen, "listen", "l", nil, "") }},
		{name: "socket", short: "S", arg: "PATH",
			help:   "listen on a unix socket",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVarP(&c.Socket, "socket", "S", "", "") }},
		{name: "ipv6", def: "off",
			help:   "with no --host, listen on [::]: IPv6 and IPv4 clients alike (without it, all addresses are that same dual-stack socket on a system with IPv6, shown as 0.0.0.0)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVar(&c.IPv6, "ipv6", false, "") }},
		{name: "reuse-port", def: "off",
			help:   "one TCP socket per worker (SO_REUSEPORT): the kernel spreads connections, no worker wakes for another's",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVar(&c.ReusePort, "reuse-port", false, "") }},
	}},
	{"TLS", []option{
		{name: "ssl", def: "off",
			help:   "serve HTTPS on every TCP listener",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVar(&c.SSL, "ssl", false, "") }},
		{name: "ssl-key-file", arg: "FILE",
			help:   "private key, PEM",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.SSLKeyFile, "ssl-key-file", "", "") }},
		{name: "ssl-cert-file", arg: "FILE",
			help:   "certificate chain, PEM",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.SSLCertFile, "ssl-cert-file", "", "") }},
		{name: "ssl-ca-file", arg: "FILE",
			help:   "CA certificates to verify clients with",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.SSLCAFile, "ssl-ca-file", "", "") }},
		{name: "ssl-client-ca-file", arg: "FILE",
			help: "the same, taking precedence",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.StringVar(&c.SSLClientCAFile, "ssl-client-ca-file", "", "")
			}},
		{name: "ssl-verify-mode", arg: "N", def: "0",
			help: "0 none, 1 verify a client certificate if sent, 2 or 3 require one",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&rangeValue{&c.SSLVerifyMode, 0, 3}, "ssl-verify-mode", "")
			}},
	}},
	{"Workers", []option{
		{name: "max-workers", alias: "workers", arg: "N", def: "10",
			help: "worker processes, at most 512; 0 = no pool: the app serves in this process",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				v := &rangeValue{&c.Workers, 0, prefork.MaxWorkers}
				fs.Var(v, "max-workers", "")
				fs.Var(v, "workers", "")
			}},
		{name: "max-reqs-per-child", arg: "N", def: "1000",
			help: "requests before a worker is replaced; inf = never",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&reqsValue{&c.MaxReqsPerChild, true}, "max-reqs-per-child", "")
			}},
		{name: "min-reqs-per-child", arg: "N", def: "none",
			help: "if set, each worker's budget is random in [min, max]",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&reqsValue{&c.MinReqsPerChild, false}, "min-reqs-per-child", "")
			}},
		{name: "spawn-interval", arg: "SECS", def: "0",
			help: "at most one worker started, and on a reload one old worker retired, per interval",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&secondsValue{&c.SpawnInterval, true}, "spawn-interval", "")
			}},
		{name: "main-process-delay", arg: "SECS", def: "0.1",
			help: "how often the master checks its timers (readiness, backoff); it never polls for work",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&secondsValue{&c.MainProcessDelay, true}, "main-process-delay", "")
			}},
		{name: "graceful-timeout", arg: "SECS", def: "30",
			help: "how long a graceful stop waits for requests before cutting them (a worker still running 0.5 s later is killed); a worker that stopped accepting is killed this long (and 2 s) after",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&secondsValue{&c.GracefulTimeout, true}, "graceful-timeout", "")
			}},
		{name: "worker-timeout", arg: "SECS", def: "30",
			help: "a worker whose heartbeat stops this long is frozen: its stacks are logged, it is killed and replaced; 0 = off (gunicorn's --timeout; starlight's --timeout is the HTTP one)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&workerTimeoutValue{&c.WorkerTimeout}, "worker-timeout", "")
			}},
		{name: "max-worker-memory", arg: "SIZE", def: "none",
			help: "recycle a worker whose resident memory passes SIZE (512M, 1G)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&sizeValue{&c.MaxWorkerMemory}, "max-worker-memory", "")
			}},
	}},
	{"HTTP", []option{
		{name: "timeout", arg: "SECS", def: "300",
			help: "time for a new connection's first request headers, for a request's body from its start, and for each write of a response",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&secondsValue{&c.Timeout, false}, "timeout", "")
			}},
		{name: "keepalive-timeout", arg: "SECS", def: "2",
			help: "idle time before a keep-alive connection closes; the next request's headers must come by then",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&secondsValue{&c.KeepaliveTimeout, false}, "keepalive-timeout", "")
			}},
		{name: "max-keepalive-reqs", arg: "N", def: "1",
			help: "requests per connection; 1 = keep-alive off, 0 = unlimited",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&rangeValue{&c.MaxKeepaliveReqs, 0, math.MaxInt32}, "max-keepalive-reqs", "")
			}},
		{name: "limit-request-line", arg: "BYTES", def: "4094",
			help: "longest request line (method, target, version); longer: 414; 0 = unlimited, at most 8190 (gunicorn's limits)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&rangeValue{&c.LimitRequestLine, 0, proto.MaxLimitRequestLine}, "limit-request-line", "")
			}},
		{name: "limit-request-fields", arg: "N", def: "100",
			help: "most field lines in a request head (and in a chunked body's trailers); more: 431; at most 32768, 0 = 32768",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&rangeValue{&c.LimitRequestFields, 0, proto.MaxLimitRequestFields}, "limit-request-fields", "")
			}},
		{name: "limit-request-field-size", arg: "BYTES", def: "8190",
			help: "longest field line (name, colon, value); longer: 431; 0 = unlimited. The request line and fields stay within 48 KiB in all (431); malformed and ambiguous requests are refused (\"What Starlight refuses\" in docs/http.md)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&rangeValue{&c.LimitRequestFieldSize, 0, math.MaxInt32}, "limit-request-field-size", "")
			}},
		{name: "request-timeout", arg: "SECS", def: "off",
			help: "a request still running after SECS has its context cancelled (a handler that honours r.Context() ends) and is logged once; one still running --graceful-timeout later gets its worker drained and replaced, its goroutine stacks logged first; 0 = off",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&secondsValue{&c.RequestTimeout, true}, "request-timeout", "")
			}},
		{name: "log-slow", arg: "SECS", def: "off",
			help: "log each request that took longer than SECS: method, path, status, duration and worker; 0 = off",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&secondsValue{&c.LogSlow, true}, "log-slow", "")
			}},
		{name: "no-http2", def: "off",
			help:   "HTTP/1.1 only over TLS (without it, --ssl offers HTTP/2 first, as net/http does)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVar(&c.NoHTTP2, "no-http2", false, "") }},
		{name: "h2c", def: "off",
			help:   "HTTP/2 without TLS too, to clients that start with its preface (prior knowledge)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVar(&c.H2C, "h2c", false, "") }},
	}},
	{"Behind a proxy", []option{
		{name: "forwarded-allow-ips", arg: "IP[,IP]", def: "127.0.0.1,::1",
			help: "peers whose X-Forwarded-For, Forwarded and X-Forwarded-Proto are believed (and PROXY headers read): addresses, networks (CIDR), * for any, unix for unix-socket clients",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.Var(&allowIPsValue{&c.ForwardedAllowIPs}, "forwarded-allow-ips", "")
			}},
		{name: "forwarded-set-remote-addr", def: "off",
			help: "put the forwarded client's address in r.RemoteAddr too (httpserver.ClientIP has it either way)",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.BoolVar(&c.ForwardedSetRemoteAddr, "forwarded-set-remote-addr", false, "")
			}},
		{name: "proxy-protocol", def: "off",
			help:   "read PROXY protocol v1 and v2 headers from --forwarded-allow-ips peers; refuse them from anyone else",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVar(&c.ProxyProtocol, "proxy-protocol", false, "") }},
	}},
	{"Process", []option{
		{name: "user", arg: "USER",
			help:   "switch to USER after binding",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.User, "user", "", "") }},
		{name: "group", arg: "GROUP[,GROUP]",
			help:   "switch to these groups after binding",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.Group, "group", "", "") }},
		{name: "umask", arg: "OCTAL", def: "unchanged",
			help:   "file mode creation mask",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.Var(&umaskValue{&c.Umask}, "umask", "") }},
		{name: "daemonize", short: "D", def: "off",
			help:   "run in the background",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVarP(&c.Daemonize, "daemonize", "D", false, "") }},
		{name: "pid", arg: "FILE",
			help:   "write the master's pid to FILE, locked while the server runs",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.PidFile, "pid", "", "") }},
		{name: "error-log", arg: "FILE", def: "stderr",
			help:   "the master's log and the workers' stderr",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.ErrorLog, "error-log", "", "") }},
		{name: "access-log", arg: "FILE", def: "none",
			help:   "Apache combined log lines; - = stdout",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.AccessLog, "access-log", "", "") }},
		{name: "env", short: "E", arg: "ENV", def: "$STARLIGHT_ENV, else development",
			help:   "given to the app as STARLIGHT_ENV",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVarP(&c.Env, "env", "E", c.Env, "") }},
		{name: "quiet", short: "q", def: "off",
			help:   "no dashboard and no startup banner",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVarP(&c.Quiet, "quiet", "q", false, "") }},
	}},
	{"Watching (starlight status, attach and ctl; see their -h)", []option{
		{name: "control", arg: "PATH", def: "/run/starlight/PID.sock as root, else $XDG_RUNTIME_DIR/starlight/PID.sock",
			help:   "the control socket status, attach and ctl talk to, mode 0600; with --pid FILE, FILE.sock as well; none = no socket",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.Control, "control", "", "") }},
		{name: "metrics-listen", arg: "ADDR", def: "none",
			help:   "serve Prometheus metrics at /metrics on ADDR: HOST:PORT, :PORT or /path.sock",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringVar(&c.MetricsListen, "metrics-listen", "", "") }},
	}},
	{"Reload", []option{
		{name: "reload", short: "r", def: "on under the dashboard when APP is a source directory, else off",
			help:   "rebuild and slow-restart when APP changes",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVarP(&c.Reload, "reload", "r", false, "") }},
		{name: "Reload", short: "R", arg: "DIR[,DIR]",
			help: "the same, watching these directories",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.StringSliceVarP(&c.ReloadDirs, "Reload", "R", nil, "")
			}},
		{name: "no-reload",
			help:   "no watching, even under the dashboard",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.BoolVar(&c.NoReload, "no-reload", false, "") }},
		{name: "reload-ext", arg: "EXT[,EXT]", def: ".go, go.mod, go.sum and //go:embed files",
			help:   "the files whose changes count",
			define: func(fs *pflag.FlagSet, c *prefork.Config) { fs.StringSliceVar(&c.ReloadExt, "reload-ext", nil, "") }},
		{name: "reload-ignore", arg: "GLOB[,GLOB]",
			help: "files to ignore besides the defaults",
			define: func(fs *pflag.FlagSet, c *prefork.Config) {
				fs.StringSliceVar(&c.ReloadIgnore, "reload-ignore", nil, "")
			}},
	}},
}

// meta are -h and -v, which ParseArgs answers itself.
var meta = []option{
	{name: "help", short: "h", help: "this text"},
	{name: "version", short: "v", help: "the version"},
}
