package prefork

import (
	"fmt"
	"io"

	"github.com/starlight-go/starlight/internal/version"
)

// Version is starlight's release.
const Version = version.Version

// PrintUsage writes the --help text: every option with its default.
func PrintUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: starlight [options] [APP] [-- app arguments]

A pre-forking HTTP/1.1 server for Go apps. APP is a directory holding a Go
main package (built with go build) or an executable built with the
httpserver package. Without APP, the current directory if it is a main
package. Under a terminal, a dashboard shows the workers; with --quiet, or
without a terminal, the server logs plain lines.

Listening:
  -o, --host HOST              address to listen on with --port (default: all)
  -p, --port PORT              TCP port (default: 5000)
  -l, --listen ADDR            listen on ADDR, repeatable: HOST:PORT, :PORT,
                               [::1]:PORT, /path.sock, @abstract
                               (replaces --host/--port)
  -S, --socket PATH            listen on a unix socket (default: none)
      --ipv6                   with no --host, listen on [::]: IPv6 and IPv4
                               clients alike (default: off: all addresses,
                               on a system with IPv6 the same dual-stack
                               socket, shown as 0.0.0.0)
      --reuse-port             one TCP socket per worker (SO_REUSEPORT): the
                               kernel spreads connections, no worker wakes
                               for another's (default: off, one shared socket)

TLS:
      --ssl                    serve HTTPS on every TCP listener (default: off)
      --ssl-key-file FILE      private key, PEM (default: none)
      --ssl-cert-file FILE     certificate chain, PEM (default: none)
      --ssl-ca-file FILE       CA certificates to verify clients (default: none)
      --ssl-client-ca-file FILE  same, takes precedence (default: none)
      --ssl-verify-mode N      0 none, 1 verify a client certificate if sent,
                               2 or 3 require one (default: 0)

Workers:
      --max-workers N          worker processes, at most 512; alias --workers;
                               0 = no pool, the app serves in this process
                               (default: 10)
      --max-reqs-per-child N   requests before a worker is replaced; inf =
                               never (default: 1000)
      --min-reqs-per-child N   if set, each worker's budget is random in
                               [min, max] (default: none)
      --spawn-interval SECS    at most one worker started, and on a reload one
                               old worker retired, per interval (default: 0)
      --main-process-delay SECS  how often the master checks timers (readiness,
                               backoff); it never polls for work (default: 0.1)
      --graceful-timeout SECS  how long a graceful stop waits for requests
                               before killing workers; a worker that stopped
                               accepting is killed this long (and 2 s) after
                               (default: 30)
      --worker-timeout SECS    a worker whose heartbeat stops this long is
                               frozen: its stacks are logged, it is killed
                               and replaced; 0 = off (gunicorn's --timeout;
                               starlight's --timeout is the HTTP one)
                               (default: 30)
      --max-worker-memory SIZE recycle a worker whose RSS passes SIZE (512M,
                               1G) (default: none)

HTTP:
      --timeout SECS           time for a new connection's first request
                               headers, for a request's body from its
                               start, and for each write of a response
                               (default: 300)
      --keepalive-timeout SECS idle time before a keep-alive connection
                               closes; the next request's headers must come
                               by then (default: 2)
      --max-keepalive-reqs N   requests per connection; 1 = keep-alive off,
                               0 = unlimited (default: 1)

Process:
      --user USER              switch to USER after binding (default: none)
      --group GROUP[,GROUP]    switch to these groups after binding
      --umask OCTAL            file mode creation mask (default: unchanged)
  -D, --daemonize              run in the background (default: off)
      --pid FILE               write the master's pid to FILE (default: none)
      --error-log FILE         the master's log and the workers' stderr
      --access-log FILE        Apache combined log; - = stdout (default: none)
  -E, --env ENV                passed to the app as STARLIGHT_ENV
                               (default: $STARLIGHT_ENV, else development)
  -q, --quiet                  no dashboard and no startup banner

Reload:
  -r, --reload                 rebuild and slow-restart when APP changes
  -R, --Reload DIR[,DIR]       the same, watching these directories
      --no-reload              no watching, even under the dashboard
      --reload-ext EXT[,EXT]   files that count (default: .go,go.mod,go.sum
                               and //go:embed files)
      --reload-ignore GLOB[,GLOB]  files to ignore as well

  -h, --help                   this text
  -v, --version                the version

Signals: HUP slow restart, TERM/INT graceful stop (a second one forces),
QUIT immediate stop, TTIN/TTOU one worker more/fewer, USR1 reopen logs.
`)
}
