package prefork

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// descendants lists the processes below pid (children, theirs, ...), read
// from /proc at one moment.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	kids := map[int][]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil {
			kids[ppid] = append(kids[ppid], n)
		}
	}
	var out []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		for _, k := range kids[queue[0]] {
			out = append(out, k)
			queue = append(queue, k)
		}
	}
	return out
}

// signalTree sends sig to the processes below pid, then to pid: go build
// does not pass a SIGINT on to the compilers it runs, nor wait for them.
func signalTree(pid int, sig syscall.Signal) error {
	for _, d := range descendants(pid) {
		syscall.Kill(d, sig)
	}
	return syscall.Kill(pid, sig)
}
