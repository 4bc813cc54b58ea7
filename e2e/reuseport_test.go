package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// listeningInodes returns the socket inodes listening on 127.0.0.1:port.
func listeningInodes(t testing.TB, port int) map[string]bool {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := fmt.Sprintf("0100007F:%04X", port)
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ... uid timeout inode
		fs := strings.Fields(sc.Text())
		if len(fs) > 9 && fs[1] == want && fs[3] == "0A" {
			out[fs[9]] = true
		}
	}
	return out
}

// acceptQueue returns how many connections wait to be accepted on the
// socket inode listening on 127.0.0.1:port (-1 if it is not there).
func acceptQueue(port int, inode string) int {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return -1
	}
	want := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		// sl local_address rem_address st tx_queue:rx_queue ... inode; a
		// listening socket's rx_queue is its accept queue.
		fs := strings.Fields(line)
		if len(fs) > 9 && fs[1] == want && fs[3] == "0A" && fs[9] == inode {
			_, rx, _ := strings.Cut(fs[4], ":")
			n, err := strconv.ParseInt(rx, 16, 64)
			if err != nil {
				return -1
			}
			return int(n)
		}
	}
	return -1
}

// socketsOf returns the inodes among of that process pid holds.
func socketsOf(pid int, of map[string]bool) []string {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	var out []string
	for _, e := range ents {
		link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + e.Name())
		if err != nil {
			continue
		}
		if ino, ok := strings.CutPrefix(link, "socket:["); ok {
			ino = strings.TrimSuffix(ino, "]")
			if of[ino] {
				out = append(out, ino)
			}
		}
	}
	slices.Sort(out)
	return out
}

// lanesOf maps each worker to the listening sockets it holds, and checks
// that together they hold every one of lanes, each exactly once.
func lanesOf(t testing.TB, workers []int, lanes map[string]bool) map[int][]string {
	t.Helper()
	got := map[int][]string{}
	seen := map[string]int{}
	for _, pid := range workers {
		got[pid] = socketsOf(pid, lanes)
		for _, ino := range got[pid] {
			seen[ino]++
		}
	}
	for ino := range lanes {
		if seen[ino] != 1 {
			t.Errorf("socket %s is held by %d workers, want 1 (workers: %v)", ino, seen[ino], got)
		}
	}
	return got
}

// With --reuse-port each worker accepts on a socket of its own: a crash,
// or a scale-down, leaves no socket without a worker and loses no request.
func TestReusePortGivesEachWorkerItsOwnSocket(t *testing.T) {
	t.Parallel()
	s := start(t, options{args: []string{"--reuse-port", "--workers", "3", "--max-reqs-per-child", "inf"}, ready: 3})
	lanes := listeningInodes(t, s.port)
	if len(lanes) != 3 {
		t.Fatalf("%d sockets listen on port %d, want 3 (one per worker)", len(lanes), s.port)
	}
	if got := socketsOf(s.pid, lanes); len(got) != 3 {
		t.Errorf("the master holds %v, want all 3 sockets", got)
	}
	before := lanesOf(t, s.waitPool(t, 3, startTimeout), lanes)
	for pid, l := range before {
		if len(l) != 1 {
			t.Errorf("worker %d holds sockets %v, want 1", pid, l)
		}
	}

	c := newClient(false) // a connection per request: each lands on a socket the kernel picks
	r := loadPIDs(s, c, 6, 300, 30*time.Second, nil)
	if n := r.errs.count(); n > 0 || r.requests.Load() != 300 {
		t.Fatalf("%d requests, %d errors: %s", r.requests.Load(), n, r.errs.String())
	}
	if r.distinct() != 3 {
		t.Errorf("requests answered by %v, want all 3 workers", r.pids)
	}

	// A killed worker's socket keeps the connections queued on it until
	// the replacement, given the same socket, accepts them. The worker is
	// stopped first, with no request in flight, and killed once
	// connections wait on its socket: a request a worker is serving when
	// it is killed is lost, whatever the server.
	victim := s.workers()[0]
	if err := syscall.Kill(victim, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill(2) returns before every thread has stopped: one still running
	// could accept a connection of the load, which the SIGKILL would lose.
	eventually(t, startTimeout, "every thread of the worker stopped", func() bool { return stopped(victim) })
	r = duringLoad(s, c, 400, func() {
		if !poll(startTimeout, func() bool { return acceptQueue(s.port, before[victim][0]) > 0 }) {
			t.Errorf("no connection waits on the stopped worker's socket after %s", startTimeout)
		}
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Error(err)
		}
	})
	if n := r.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed while worker %d was killed: %s", n, r.requests.Load(), victim, r.errs.String())
	}
	var after []int
	eventually(t, startTimeout, "3 ready workers without the killed one", func() bool {
		after = s.readyWorkers()
		return len(after) == 3 && len(s.workers()) == 3 && !slices.Contains(after, victim)
	})
	for pid, l := range lanesOf(t, after, lanes) {
		if _, old := before[pid]; !old && !slices.Equal(l, before[victim]) {
			t.Errorf("the replacement %d holds %v, want the killed worker's %v", pid, l, before[victim])
		}
	}

	// Scaled down to 2, one worker takes two sockets: none is left
	// without a worker, and no request fails meanwhile.
	two := scaleDownUnderLoad(t, s, c, 2, 400)
	held := lanesOf(t, two, lanes)
	sizes := []int{len(held[two[0]]), len(held[two[1]])}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 2}) {
		t.Errorf("after scaling down to 2: workers hold %v, want one socket and two", held)
	}
	r = loadPIDs(s, c, 6, 200, 30*time.Second, nil)
	if n := r.errs.count(); n > 0 || r.distinct() != 2 {
		t.Errorf("after scaling down: %d errors (%s), answered by %v", n, r.errs.String(), r.pids)
	}

	// Down to 1: the one worker left takes all three.
	one := scaleDownUnderLoad(t, s, c, 1, 300)
	if got := lanesOf(t, one, lanes)[one[0]]; len(got) != 3 {
		t.Errorf("the last worker holds %v, want all 3 sockets", got)
	}
	s.stop(t)
}

// duringLoad runs total GET /pid requests from 4 clients while do runs,
// and returns what they saw.
func duringLoad(s *server, c *http.Client, total int, do func()) *loadResult {
	load := make(chan *loadResult, 1) // the load finishes even if do stops the test
	go func() { load <- loadPIDs(s, c, 4, total, 30*time.Second, nil) }()
	do()
	return <-load
}

// scaleDownUnderLoad sends SIGTTOU under a load of total requests, checks
// that none failed, and returns the pool once it is down to want workers.
func scaleDownUnderLoad(t *testing.T, s *server, c *http.Client, want, total int) []int {
	t.Helper()
	r := duringLoad(s, c, total, func() {
		s.signal(t, syscall.SIGTTOU)
		s.waitLog(t, 5*time.Second, regexp.MustCompile(`starlight: workers: `+strconv.Itoa(want)+`$`))
	})
	if n := r.errs.count(); n > 0 {
		t.Errorf("%d of %d requests failed while scaling down to %d: %s", n, r.requests.Load(), want, r.errs.String())
	}
	return s.waitPool(t, want, startTimeout)
}

// stopped reports whether every thread of pid is stopped (SIGSTOP).
func stopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		if p, ok := readProc(atoi(task.Name())); !ok || p.state != 'T' {
			return false
		}
	}
	return true
}
