// Package scoreboard is the shared memory between the master and its
// workers: a header and a fixed array of slots, one per worker, each
// written by the worker that owns it (and by the master before the worker
// starts, and for the flags it sets), read by the master a few times a
// second and by the other workers to balance connections. Every field is
// accessed atomically, so a request costs a few atomic stores and no
// system call.
package scoreboard

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SlotSize is the size of one slot in bytes: four cache lines.
const SlotSize = 256

// lineWords is the number of 8-byte words holding the in-flight request line.
const lineWords = 6

// LineMax is the longest request line a slot keeps ("GET /path..."); longer
// lines are cut.
const LineMax = lineWords * 8

// State of a slot.
const (
	Free     uint32 = iota // nobody owns it
	Starting               // the master spawned a worker on it
	Ready                  // the worker serves
	Exiting                // the worker drains before exiting
)

// Exit reasons a worker records before it exits.
const (
	ExitNone     uint32 = iota
	ExitBudget          // served its request budget
	ExitHarakiri        // the app asked for it
	ExitSignal          // SIGTERM or SIGINT
	ExitOrphan          // the master went away
	ExitHung            // a request outlived --request-timeout and --graceful-timeout
)

// Slot is one worker's record. Its layout is shared between processes of
// the same build only; never reorder fields without bumping the protocol
// version in internal/proto.
type Slot struct {
	PID        atomic.Int32
	State      atomic.Uint32
	Generation atomic.Uint32
	ExitReason atomic.Uint32
	Requests   atomic.Uint64 // requests completed
	Budget     atomic.Uint64 // 0 = unlimited
	Started    atomic.Int64  // process start, unix nanoseconds
	ReqStart   atomic.Int64  // start of the request on record, unix ns; 0 = none
	Active     atomic.Int32  // requests in flight
	lineSeq    atomic.Uint32 // odd while the line is being written
	line       [lineWords]atomic.Uint64
	Flags      atomic.Uint32 // what the master asks of the worker: Flag...
	Conns      atomic.Int32  // connections open
	Cut        atomic.Int32  // requests in flight when the worker's grace period ran out
	Returned   atomic.Uint32 // 1 once the worker's Serve returns nil: what the process does after is its main's
	// Heartbeat is stamped (unix ns) by a goroutine of the worker's at
	// least once a second from ready on: a slot not stamped for
	// --worker-timeout is a frozen worker (a stopped process, a runtime
	// that no longer schedules goroutines).
	Heartbeat atomic.Int64
	// Hijacked is the connections the app took over (websockets and
	// other upgrades) and still holds open: requests in flight too, a
	// draining worker waits for them. HijackedCut is how many were still
	// open when the worker's grace period ran out, and were closed.
	Hijacked    atomic.Int32
	HijackedCut atomic.Int32
	// HTTP outcome, counted by the worker as each request ends (see
	// Observe): responses by status class (2xx, 3xx, 4xx, 5xx; 1xx and
	// hijacked connections are not counted), panics the server recovered,
	// and how long the requests took, as a histogram of LatencyBuckets
	// (see LatencyBucket). The counters only grow (and wrap around): a
	// reader takes differences between two reads for a window of time.
	Classes [4]atomic.Uint32
	Panics  atomic.Uint32
	Latency [LatencyBuckets]atomic.Uint32
	// LatencySum is the microseconds the requests counted in Latency
	// took, summed (for a histogram's _sum).
	LatencySum atomic.Uint64

	_ [SlotSize - 240]byte // room for more fields (LatencySum ends at 240)
}

// LatencyBuckets is the number of buckets of a slot's latency histogram.
const LatencyBuckets = 18

// latencyShift sets the first bucket's bound: 2^16 ns, about 65 µs.
const latencyShift = 16

// LatencyBucket is the bucket a request of d nanoseconds falls in: bucket
// 0 holds those under LatencyBound(0) (about 65 µs), bucket i those under
// LatencyBound(i), twice the bound of the bucket before; the last one
// holds everything longer (over about 4.3 s).
func LatencyBucket(ns int64) int {
	if ns <= 0 {
		return 0
	}
	return min(bits.Len64(uint64(ns)>>latencyShift), LatencyBuckets-1)
}

// LatencyBound is the upper bound of bucket i in nanoseconds (the last
// bucket has none: its lower bound is LatencyBound(LatencyBuckets-2)).
func LatencyBound(i int) int64 { return 1 << (latencyShift + i) }

// Observe counts a request that ended with status code after ns
// nanoseconds: three atomic adds on the worker's own slot.
func (s *Slot) Observe(code int, ns int64) {
	if c := code/100 - 2; c >= 0 && c < len(s.Classes) {
		s.Classes[c].Add(1)
	}
	s.Latency[LatencyBucket(ns)].Add(1)
	if ns > 0 {
		s.LatencySum.Add(uint64(ns) / 1000)
	}
}

// HeaderSize is the size of the board's header, before slot 0.
const HeaderSize = SlotSize

// Header is the part of the board about all slots.
type Header struct {
	// InUse is one more than the highest slot index the master has ever
	// given a worker: readers scan slots [0, InUse).
	InUse atomic.Int32
	_     [HeaderSize - 4]byte
}

var _ [HeaderSize - unsafe.Sizeof(Header{})]byte
var _ [unsafe.Sizeof(Header{}) - HeaderSize]byte

// Flags the master sets on a slot.
const (
	// FlagAccessLog asks the worker to write access-log lines (to the
	// file or the dashboard the master routes them to); without it the
	// worker formats none.
	FlagAccessLog uint32 = 1 << iota
)

// Compile-time check that Slot has the size the memory layout assumes.
var _ [SlotSize - unsafe.Sizeof(Slot{})]byte
var _ [unsafe.Sizeof(Slot{}) - SlotSize]byte

// Reset prepares a slot for a new worker. Only the master calls it, before
// the worker process exists.
func (s *Slot) Reset(gen uint32, budget uint64, started int64) {
	s.PID.Store(0)
	s.Generation.Store(gen)
	s.ExitReason.Store(ExitNone)
	s.Requests.Store(0)
	s.Budget.Store(budget)
	s.Started.Store(started)
	s.ReqStart.Store(0)
	s.Active.Store(0)
	s.Conns.Store(0)
	s.Cut.Store(0)
	s.Returned.Store(0)
	s.Heartbeat.Store(0)
	s.Hijacked.Store(0)
	s.HijackedCut.Store(0)
	for i := range s.Classes {
		s.Classes[i].Store(0)
	}
	s.Panics.Store(0)
	for i := range s.Latency {
		s.Latency[i].Store(0)
	}
	s.LatencySum.Store(0)
	s.lineSeq.Store(0) // a worker that died writing the line left it odd
	for i := range s.line {
		s.line[i].Store(0)
	}
	s.State.Store(Starting)
}

// Begin records the start of a request: one more in flight and, when no
// other request of this worker is on record, its line and start time (so
// the oldest request in flight stays visible, the one a person wants to
// see when a worker is stuck). now is unix nanoseconds. It reports whether
// this request went on record, for End.
//
// The line is written under a sequence lock (odd while it changes), word by
// word and only the words that differ from the last line on record, so a
// worker answering the same path again and again stores nothing but the
// start time.
func (s *Slot) Begin(method, path string, now int64) bool {
	s.Active.Add(1)
	seq := s.lineSeq.Load()
	if seq&1 != 0 || s.ReqStart.Load() != 0 || !s.lineSeq.CompareAndSwap(seq, seq+1) {
		return false
	}
	var buf [LineMax]byte
	n := copy(buf[:], method)
	if n < LineMax {
		buf[n] = ' '
		n++
		copy(buf[n:], path)
	}
	for i := range s.line {
		if w := binary.LittleEndian.Uint64(buf[i*8:]); s.line[i].Load() != w {
			s.line[i].Store(w)
		}
	}
	s.ReqStart.Store(now)
	s.lineSeq.Store(seq + 2)
	return true
}

// End records the end of a request begun with Begin, given what Begin
// returned, and returns the number of requests completed. Clearing the
// start time takes the request off record; the line stays until the next
// one replaces it, and readers ignore it meanwhile.
func (s *Slot) End(onRecord bool) uint64 {
	s.Abandon(onRecord)
	return s.Requests.Add(1)
}

// Abandon records the end of a request that does not count as served: its
// handler returned after the worker's grace period had cut it (Cut).
func (s *Slot) Abandon(onRecord bool) {
	if onRecord {
		s.ReqStart.Store(0)
	}
	s.Active.Add(-1)
}

// InFlight returns the request on record ("GET /path") and when it
// started (unix ns), or "" and 0 when none is, or it is being written.
func (s *Slot) InFlight() (string, int64) {
	seq := s.lineSeq.Load()
	if seq&1 != 0 {
		return "", 0
	}
	var buf [LineMax]byte
	for i := range s.line {
		binary.LittleEndian.PutUint64(buf[i*8:], s.line[i].Load())
	}
	start := s.ReqStart.Load()
	if s.lineSeq.Load() != seq || start == 0 {
		return "", 0
	}
	n := 0
	for n < LineMax && buf[n] != 0 {
		n++
	}
	return string(buf[:n]), start
}

// Board is a mapped scoreboard.
type Board struct {
	f    *os.File
	mem  []byte
	size int
}

// Create makes a new scoreboard of n slots in anonymous shared memory (a
// memfd, or an unlinked temporary file where memfd is missing).
func Create(n int) (*Board, error) {
	if n <= 0 {
		return nil, fmt.Errorf("scoreboard: %d slots", n)
	}
	f, err := anonFile()
	if err != nil {
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	if err := f.Truncate(int64(HeaderSize + n*SlotSize)); err != nil {
		f.Close()
		return nil, fmt.Errorf("scoreboard: size: %w", err)
	}
	b, err := mapFile(f, n)
	if err != nil {
		f.Close()
		return nil, err
	}
	return b, nil
}

// Open maps an inherited scoreboard file of n slots.
func Open(f *os.File, n int) (*Board, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("scoreboard: %w", err)
	}
	if n <= 0 || st.Size() < int64(HeaderSize+n*SlotSize) {
		return nil, fmt.Errorf("scoreboard: file holds %d bytes, want %d slots", st.Size(), n)
	}
	return mapFile(f, n)
}

func anonFile() (*os.File, error) {
	fd, err := unix.MemfdCreate("starlight-scoreboard", unix.MFD_CLOEXEC)
	if err == nil {
		return os.NewFile(uintptr(fd), "starlight-scoreboard"), nil
	}
	f, err := os.CreateTemp("", "starlight-scoreboard-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

func mapFile(f *os.File, n int) (*Board, error) {
	mem, err := unix.Mmap(int(f.Fd()), 0, HeaderSize+n*SlotSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("scoreboard: mmap: %w", err)
	}
	return &Board{f: f, mem: mem, size: n}, nil
}

// File is the file behind the board, to pass to a worker.
func (b *Board) File() *os.File { return b.f }

// Len is the number of slots.
func (b *Board) Len() int { return b.size }

// Slot returns slot i.
func (b *Board) Slot(i int) *Slot {
	if i < 0 || i >= b.size {
		panic(fmt.Sprintf("scoreboard: slot %d out of range [0,%d)", i, b.size))
	}
	return (*Slot)(unsafe.Pointer(&b.mem[HeaderSize+i*SlotSize]))
}

// Header returns the board's header.
func (b *Board) Header() *Header { return (*Header)(unsafe.Pointer(&b.mem[0])) }

// InUse returns the slots that may belong to a worker, [0, Header.InUse).
func (b *Board) InUse() int {
	return min(int(b.Header().InUse.Load()), b.size)
}

// Use records that slot i is given to a worker.
func (b *Board) Use(i int) {
	h := b.Header()
	for {
		n := h.InUse.Load()
		if int(n) > i || h.InUse.CompareAndSwap(n, int32(i+1)) {
			return
		}
	}
}

// Close unmaps the board and closes its file.
func (b *Board) Close() error {
	err := unix.Munmap(b.mem)
	if cerr := b.f.Close(); err == nil {
		err = cerr
	}
	return err
}
