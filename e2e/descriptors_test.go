package e2e

import (
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The test process needs a descriptor per held connection.
func raiseOwnFileLimit(t *testing.T, want uint64) {
	t.Helper()
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Cur >= want {
		return
	}
	r.Cur = want
	if r.Max < want {
		r.Max = want // root may
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatalf("this test holds %d connections and needs as many open files: %v", want, err)
	}
}

// A slowloris under a hard limit of 1024 open files: 5,000 connections
// that send half a request head and stall. Workers that accepted until
// accept failed with EMFILE held every descriptor until --timeout (300 s)
// and served nobody; now a worker near its limit sheds the connections
// that have sent no complete request head, oldest first, and normal
// requests keep being served throughout. The workers have no request
// budget (--max-reqs-per-child inf): a budget's recycling would hand out
// fresh descriptors now and then, and hide whether a worker copes alone.
func TestDescriptorPressureSlowloris(t *testing.T) {
	const (
		held     = 5000
		dialers  = 64
		sample   = 250 * time.Millisecond
		holdFor  = 4 * time.Second
		openSpan = 20 * time.Second // the most the opening may take
	)
	raiseOwnFileLimit(t, held+512)
	app := testApp(t)
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	s := startArgv(t, app, []string{"bash", "-c", `ulimit -n 1024 && exec "$@"`, "bash",
		starlightBin, "--max-workers", "4", "--max-reqs-per-child", "inf", "-l", addr, app}, nil)
	s.port, s.addr = port, addr
	s.waitPool(t, 4, startTimeout)

	// Normal requests, a connection each, all along; the times of the
	// answers are sampled.
	var (
		mu    sync.Mutex
		oks   []time.Time
		fails atomic.Int64
		stop  = make(chan struct{})
		load  sync.WaitGroup
	)
	client := newClient(false)
	client.Timeout = 3 * time.Second
	for range 4 {
		load.Add(1)
		go func() {
			defer load.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, _, err := s.get(client, "/pid")
				if err == nil && code == http.StatusOK {
					mu.Lock()
					oks = append(oks, time.Now())
					mu.Unlock()
				} else {
					fails.Add(1)
				}
			}
		}()
	}
	eventually(t, startTimeout, "a first normal answer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(oks) > 0
	})

	// The slowloris: held connections that each send half a head and
	// wait until the attack ends or the server closes them.
	begin := time.Now()
	attackEnd := make(chan struct{})
	var (
		opened, open atomic.Int64 // connections opened, and open now
		conns        sync.WaitGroup
		next         atomic.Int64
	)
	half := []byte("GET /pid HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: slow")
	d := net.Dialer{Timeout: 2 * time.Second}
	for range dialers {
		conns.Add(1)
		go func() {
			defer conns.Done()
			for next.Add(1) <= held {
				var c net.Conn
				for {
					var err error
					if c, err = d.Dial("tcp", addr); err == nil {
						break
					}
					select {
					case <-attackEnd:
						return
					case <-time.After(50 * time.Millisecond):
					}
				}
				opened.Add(1)
				open.Add(1)
				c.Write(half)
				conns.Add(1)
				go func() {
					defer conns.Done()
					closed := make(chan struct{})
					go func() {
						var b [512]byte
						for {
							if _, err := c.Read(b[:]); err != nil {
								break
							}
						}
						close(closed)
					}()
					select {
					case <-attackEnd:
					case <-closed:
					}
					c.Close()
					<-closed
					open.Add(-1)
				}()
			}
		}()
	}
	// How many slow connections are open, at each sample's start.
	var heldAt []int64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(sample)
		defer tick.Stop()
		for {
			heldAt = append(heldAt, open.Load())
			select {
			case <-attackEnd:
				return
			case <-tick.C:
			}
		}
	}()
	ok := poll(openSpan, func() bool { return opened.Load() >= held })
	allOpen := time.Now()
	var endHold time.Time
	if ok {
		endHold = allOpen.Add(holdFor)
		poll(holdFor+time.Second, func() bool { return time.Now().After(endHold) })
	}
	end := time.Now()
	openAtEnd := open.Load()
	close(attackEnd)
	<-sampled
	close(stop)
	load.Wait()
	conns.Wait()
	t.Logf("opened %d slow connections (%d still open when the attack ended) in %s; held %s; normal answers %d, failures %d",
		opened.Load(), openAtEnd, allOpen.Sub(begin).Round(time.Millisecond), end.Sub(allOpen).Round(time.Millisecond), len(oks), fails.Load())
	if !ok {
		t.Fatalf("only %d of %d slow connections opened in %s", opened.Load(), held, openSpan)
	}

	// Samples of sample each, from the attack's start to its end: none
	// without a normal answer.
	mu.Lock()
	n := int(end.Sub(begin) / sample)
	counts := make([]int, n)
	for _, at := range oks {
		if i := int(at.Sub(begin) / sample); at.After(begin) && i < n {
			counts[i]++
		}
	}
	mu.Unlock()
	t.Logf("normal answers per %s during the attack: %v", sample, counts)
	t.Logf("slow connections open at the start of each: %v", heldAt)
	pressed := 0
	for _, n := range heldAt {
		if n >= 3000 {
			pressed++
		}
	}
	if pressed < 4 {
		t.Fatalf("the attack never held 3000 connections open for a second (open at each sample: %v)", heldAt)
	}
	for i, c := range counts {
		if c == 0 {
			t.Fatalf("no normal request answered between %s and %s into the attack (answers per %s: %v)", time.Duration(i)*sample, time.Duration(i+1)*sample, sample, counts)
		}
	}
	// The workers shed, and no accept failed in a loop.
	if n := s.count(regexp.MustCompile(`(?i)too many open files|accept error`)); n > 0 {
		t.Errorf("%d log lines about failed accepts:\n%s", n, s.stderr)
	}
	if s.count(regexp.MustCompile(`starlight: worker \d+ near its limit of 1024 open files \(\d+ held\): closed \d+ connections that had sent no complete request head, oldest first`)) == 0 {
		t.Errorf("no worker says it shed connections:\n%s", s.stderr)
	}
	if s.count(regexp.MustCompile(`starlight: open files: soft limit 1024, hard limit 1024$`)) != 1 {
		t.Errorf("the master does not log its limits on open files once:\n%s", s.stderr)
	}
}
