package httpserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/starlight-go/starlight/internal/addr"
	"github.com/starlight-go/starlight/internal/logfile"
	"github.com/starlight-go/starlight/internal/proto"
	"github.com/starlight-go/starlight/internal/scoreboard"
	"github.com/starlight-go/starlight/internal/sdnotify"
	"golang.org/x/sys/unix"
)

// Serve serves h until the process is told to stop, and returns nil after
// a graceful exit.
//
// Started by a starlight master, the program is a worker: it serves on the
// listeners the master passed down, with the master's settings, and exits
// after its request budget, on SIGTERM or SIGINT, after Harakiri, or when
// the master goes away. Run by hand, it serves alone in this one process on
// -l/--listen ADDR, else $PORT, else :5000, until SIGINT or SIGTERM.
func Serve(h http.Handler) error {
	return serve(h, nil)
}

// ServeServer serves srv, a server the app configured itself, as Serve
// serves a handler: on the master's listeners, with its settings. The
// app's settings are kept (ErrorLog, BaseContext, ConnContext,
// MaxHeaderBytes, ReadHeaderTimeout and the other timeouts, TLSConfig,
// Protocols, DisableGeneralOptionsHandler, the functions given to
// RegisterOnShutdown), and starlight's own hooks (ConnState, ConnContext,
// the handler's accounting) run before the app's, never in their place.
// srv.Addr is ignored under a master (the master's listeners are used),
// and used run by hand when neither -l nor $PORT says otherwise. A nil
// Handler serves http.DefaultServeMux, as net/http does. See docs/real-apps.md,
// "Your own http.Server" for which option wins over which setting.
//
// srv is changed in place (its Handler, ConnContext and ConnState are
// wrapped) and must not be served otherwise.
func ServeServer(srv *http.Server) error {
	if srv == nil {
		return errors.New("httpserver: ServeServer(nil)")
	}
	return serve(srv.Handler, srv)
}

func serve(h http.Handler, own *http.Server) error {
	if h == nil {
		h = http.DefaultServeMux
	}
	spec, err := proto.FromEnv()
	if err != nil {
		return fmt.Errorf("httpserver: %w", err)
	}
	if spec == nil {
		return serveAlone(h, own)
	}
	os.Unsetenv(proto.EnvSpec) // programs the app starts are not workers
	return serveWorker(h, spec, own)
}

// Harakiri asks the worker serving r to exit gracefully once this response
// is complete; the master starts a replacement. The response closes its
// connection. Run by hand (one process, no master), it is ignored.
func Harakiri(r *http.Request) {
	s := current.Load()
	if s == nil || s.slot == nil {
		return
	}
	if ci := connFrom(r); ci != nil {
		ci.close.Store(true)
	}
	go s.drain(scoreboard.ExitHarakiri)
}

// Env is the environment the server was started for (starlight's
// -E/--env, default "development"), from $STARLIGHT_ENV.
func Env() string {
	if v := os.Getenv(proto.EnvEnv); v != "" {
		return v
	}
	return proto.DefaultEnv
}

func serveWorker(h http.Handler, spec *proto.Spec, own *http.Server) error {
	set := settings{
		timeout:          spec.Timeout,
		keepaliveTimeout: spec.KeepaliveTimeout,
		maxKeepaliveReqs: spec.MaxKeepaliveReqs,
		gracefulTimeout:  spec.GracefulTimeout,
		budget:           spec.Budget,
		limits:           limits{spec.LimitRequestLine, spec.LimitRequestFields, spec.LimitRequestFieldSize},
		requestTimeout:   spec.RequestTimeout,
		logSlow:          spec.LogSlow,
		noHTTP2:          spec.NoHTTP2,
		h2c:              spec.H2C,
		trust:            newTrust(spec.ForwardedAllowIPs, spec.ForwardedSetRemoteAddr),
		proxyProtocol:    spec.ProxyProtocol,
	}
	if spec.Standalone {
		set.budget = 0 // alone, nobody would replace us
	}
	// Programs the app starts inherit none of the master's descriptors
	// (a ready pipe held open by a child would outlive this worker).
	fds := append([]int{spec.ReadyFD, spec.DeathFD, spec.ScoreboardFD, spec.AccessFD}, spec.HeldFDs...)
	if spec.TLS != nil && spec.TLS.PEMFD > 0 {
		fds = append(fds, spec.TLS.PEMFD) // the private key
	}
	for _, fd := range fds {
		if fd >= 0 {
			syscall.CloseOnExec(fd)
		}
	}
	s := newServerFor(h, set, own)
	s.watchDescriptors() // the master logged the limits
	var tlsConf *tls.Config
	if spec.TLS != nil {
		c, err := loadTLS(spec.TLS, !spec.NoHTTP2)
		if err == nil {
			c, err = s.appTLS(c)
		}
		if err != nil {
			return fmt.Errorf("httpserver: %w", err)
		}
		s.alpnFor(c)
		tlsConf = c
		s.srv.TLSConfig = c
	}
	for _, l := range spec.Listeners {
		f := os.NewFile(uintptr(l.FD), l.Addr)
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("httpserver: inherited listener %s (fd %d): %w", l.Addr, l.FD, err)
		}
		if set.proxyProtocol {
			ln = proxyListener{ln, s} // before TLS and the HTTP scanner
		}
		if balances(spec, l) {
			ln = balancedListener{ln, s}
		}
		ln = s.pressure.listener(ln)
		if l.TLS {
			ln = tls.NewListener(ln, tlsConf)
		}
		s.listeners = append(s.listeners, ln)
	}
	if spec.AccessFD >= 0 {
		s.access = &accessLog{f: os.NewFile(uintptr(spec.AccessFD), "access-log")}
	}
	if !spec.Standalone {
		board, err := scoreboard.Open(os.NewFile(uintptr(spec.ScoreboardFD), "scoreboard"), spec.Slots)
		if err != nil {
			return fmt.Errorf("httpserver: %w", err)
		}
		s.slot = board.Slot(spec.Slot)
		s.board = board
		s.slot.PID.Store(int32(os.Getpid()))
		go watchMaster(s, os.NewFile(uintptr(spec.DeathFD), "master"), spec.MasterPID)
	}

	signal.Ignore(syscall.SIGHUP)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigc
		s.drain(scoreboard.ExitSignal)
	}()
	if spec.Standalone {
		standaloneSignals(spec, s)
	}

	defer removeFiles(spec.Cleanup)
	return s.serve(func() {
		if spec.Standalone {
			// In place of the master (--max-workers 0): tell systemd.
			sdnotify.Notify(fmt.Sprintf("READY=1\nMAINPID=%d", os.Getpid()))
		}
		if s.slot == nil {
			return
		}
		// A drain that came first (a signal, or the budget reached by
		// connections already waiting) keeps the slot Exiting.
		s.slot.State.CompareAndSwap(scoreboard.Starting, scoreboard.Ready)
		if spec.ReadyFD >= 0 {
			s.notice(os.NewFile(uintptr(spec.ReadyFD), "ready"))
		}
	})
}

// standaloneSignals handles, in place of the master (--max-workers 0), the
// signals that are the master's: QUIT, or a second TERM or INT, stops at
// once; USR1 reopens the log files; TTIN and TTOU, which ask for more or
// fewer workers, have none to change (and ignored, a write to a terminal
// with `stty tostop` is let through rather than stopping the server); HUP,
// a slow restart of the workers, has no worker to restart.
func standaloneSignals(spec *proto.Spec, s *server) {
	signal.Ignore(syscall.SIGTTIN, syscall.SIGTTOU)
	c := make(chan os.Signal, 4)
	signal.Notify(c, syscall.SIGUSR1, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		stops := 0
		for sig := range c {
			switch sig {
			case syscall.SIGTERM, syscall.SIGINT: // the first drains (serveWorker)
				if stops++; stops < 2 {
					continue
				}
				fallthrough
			case syscall.SIGQUIT:
				s.logger.Printf("starlight: stopping now (%s)", strings.ToUpper(unix.SignalName(sig.(syscall.Signal))))
				removeFiles(spec.Cleanup)
				os.Exit(0)
			case syscall.SIGHUP:
				s.logger.Print("starlight: SIGHUP ignored: with --max-workers 0 there is no worker to restart")
				continue
			}
			err1 := reopenOnto(spec.ErrorLog, 2)
			var err2 error
			if s.access != nil {
				err2 = reopenOnto(spec.AccessLog, int(s.access.f.Fd()))
			}
			for _, err := range []error{err1, err2} {
				if err != nil {
					s.logger.Printf("starlight: SIGUSR1: %v; the file open before stays in use", err)
				}
			}
			switch {
			case spec.ErrorLog == "" && spec.AccessLog == "":
				s.logger.Print("starlight: no log file to reopen (--error-log, --access-log)")
			case err1 == nil && err2 == nil:
				s.logger.Print("starlight: log files reopened")
			}
		}
	}()
}

// removeFiles removes the files a standalone server cleans up at exit
// (spec.Cleanup).
func removeFiles(paths []string) {
	for _, path := range paths {
		os.Remove(path)
	}
}

// reopenOnto opens the log file path again (after logrotate moved it) and
// puts it in place of descriptor fd; "" does nothing.
func reopenOnto(path string, fd int) error {
	if path == "" {
		return nil
	}
	f, err := logfile.Open(path, -1) // root's or this process's user's
	if err != nil {
		return fmt.Errorf("reopen %s: %w", path, err)
	}
	defer f.Close()
	flags := unix.O_CLOEXEC // the access log: programs the app starts never get it
	if fd == 2 {
		flags = 0
	}
	if err := unix.Dup3(int(f.Fd()), fd, flags); err != nil {
		return fmt.Errorf("reopen %s: %w", path, err)
	}
	return nil
}

// watchMaster drains the worker when the master is gone: the pipe it holds
// reports EOF, or this process has been handed to another parent. Its
// ticks are also the worker's heartbeat: a slot not stamped for
// --worker-timeout tells the master that this process no longer runs
// goroutines (stopped, or a runtime that is stuck).
func watchMaster(s *server, pipe *os.File, masterPID int) {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, pipe) // returns at EOF: the master's end closed
		close(done)
	}()
	tick := time.NewTicker(heartbeatInterval)
	defer tick.Stop()
	s.slot.Heartbeat.Store(time.Now().UnixNano())
	for {
		select {
		case <-done:
			s.drain(scoreboard.ExitOrphan)
			return
		case now := <-tick.C:
			s.slot.Heartbeat.Store(now.UnixNano())
			if masterPID > 0 && os.Getppid() != masterPID {
				s.drain(scoreboard.ExitOrphan)
				return
			}
		}
	}
}

// heartbeatInterval is how often a worker stamps its slot; the master's
// --worker-timeout is at least a second, twice this.
const heartbeatInterval = 500 * time.Millisecond

// serveAlone is the app run by hand: one process, no master.
func serveAlone(h http.Handler, own *http.Server) error {
	where, err := listenFlag(os.Args[1:])
	if err != nil {
		return fmt.Errorf("httpserver: %w", err)
	}
	if where == "" {
		if p := os.Getenv("PORT"); p != "" {
			where = ":" + p
		} else {
			where = ":5000"
		}
	}
	network, url := "tcp", "http://"
	if addr.IsUnix(where) {
		network, url = "unix", "unix:" // removed at exit by the listener
	}
	ln, err := net.Listen(network, where)
	if err != nil {
		return fmt.Errorf("httpserver: %w", err)
	}
	s := newServerFor(h, settings{
		timeout:          DefaultTimeout,
		keepaliveTimeout: DefaultKeepaliveTimeout,
		maxKeepaliveReqs: 100,
		gracefulTimeout:  DefaultGracefulTimeout,
		limits:           defaultLimits,
	}, own)
	limits := s.watchDescriptors()
	s.listeners = []net.Listener{s.pressure.listener(ln)}
	fmt.Fprintf(os.Stderr, "serving %s%s in one process; run it under `starlight` for worker processes and a dashboard\n", url, displayAddr(ln.Addr()))
	fmt.Fprintf(os.Stderr, "%s\n", limits)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigc
		s.drain(scoreboard.ExitSignal)
	}()
	return s.serve(nil)
}

// listenFlag finds -l ADDR, -l=ADDR, --listen ADDR or --listen=ADDR; it
// returns "" if there is none, and an error for one without an address.
func listenFlag(args []string) (string, error) {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, name := range []string{"-l", "--listen", "-listen"} {
			v, ok := strings.CutPrefix(a, name+"=")
			if a == name {
				v, ok = "", true
				if i+1 < len(args) {
					v = args[i+1]
				}
			}
			if !ok {
				continue
			}
			if v == "" {
				return "", fmt.Errorf("%s needs an address (HOST:PORT, :PORT or a unix socket path)", name)
			}
			return v, nil
		}
	}
	return "", nil
}

func displayAddr(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		return fmt.Sprintf("localhost:%d", ta.Port)
	}
	return a.String()
}
