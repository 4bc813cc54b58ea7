package prefork

// With --reuse-port every TCP address has L sockets, the lanes (L is the
// number of workers at start), all bound with SO_REUSEPORT, and each
// worker accepts on its own lanes only: the kernel picks a lane for each
// new connection, and only that lane's worker wakes. Without it, every
// worker waits on the one shared socket and each connection wakes them
// all, for one to win the accept.
//
// The master holds every lane for its whole life. A lane whose worker
// died, or drains, keeps its queued connections for the next worker given
// that lane (they wait for it to start, they are not reset), and no lane
// is ever closed while the kernel may still route connections to it.
//
// With k workers wanted, worker position p (0 <= p < k) takes the lanes l
// with l mod k == p when k <= L (after a scale-down some workers take two
// lanes or more), or lane p mod L when k > L (after a scale-up workers
// share lanes, as they share the one socket without --reuse-port).

// laneCount is the number of lanes, 0 without --reuse-port.
func (m *Master) laneCount() int {
	for _, l := range m.listeners {
		if len(l.lanes) > 0 {
			return len(l.lanes)
		}
	}
	return 0
}

// lanesFor returns the lanes of position p of k, with n lanes.
func lanesFor(p, k, n int) []int {
	if k > n {
		return []int{p % n}
	}
	var out []int
	for l := p; l < n; l += k {
		out = append(out, l)
	}
	return out
}

func sameLanes(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// positionOf returns the first position of the current target whose lanes
// are exactly lanes, or -1 (lanes left from before a scale-down).
func (m *Master) positionOf(lanes []int) int {
	n, k := m.laneCount(), m.target
	if len(lanes) == 0 || k == 0 {
		return -1
	}
	if p := lanes[0]; p < k && sameLanes(lanes, lanesFor(p, k, n)) {
		return p
	}
	return -1
}

// positionHolders counts, for each position of the current target, the
// serving workers of generation gen that hold exactly its lanes. Positions
// sharing their lanes (more workers than lanes) share their holders out.
// A worker given as except is not counted.
func (m *Master) positionHolders(gen int, except *proc) []int {
	n, k := m.laneCount(), m.target
	held := make([]int, k)
	for _, p := range m.procs {
		if !p.serving() || p.gen != gen || p == except {
			continue
		}
		if pos := m.positionOf(p.lanes); pos >= 0 {
			held[pos]++
		}
	}
	// With k > n, positions l, l+n, l+2n, ... have the lanes of l: deal
	// l's holders out to them in turn.
	for l := 0; l < n && l+n < k; l++ {
		c := held[l]
		held[l] = 0
		for i := l; c > 0; i += n {
			if i >= k {
				i = l
			}
			held[i]++
			c--
		}
	}
	return held
}

// nextLanes returns the lanes for a new worker of generation gen: those of
// the position the fewest serving workers of gen hold (the first such).
// Without --reuse-port it returns nil.
func (m *Master) nextLanes(gen int) []int {
	n := m.laneCount()
	if n == 0 || m.target == 0 {
		return nil
	}
	held := m.positionHolders(gen, nil)
	best := 0
	for i, h := range held {
		if h < held[best] {
			best = i
		}
	}
	return lanesFor(best, m.target, n)
}

// lanesUnfilled reports whether some position has no serving worker of
// generation gen: after a scale-down, the workers hold the lanes of the
// old positions, and a lane nobody holds would keep its connections
// waiting.
func (m *Master) lanesUnfilled(gen int) bool {
	if m.laneCount() == 0 {
		return false
	}
	for _, h := range m.positionHolders(gen, nil) {
		if h == 0 {
			return true
		}
	}
	return false
}

// spare reports whether p may go: other ready workers of pool hold each of
// its lanes and, with keepPositions, no position of the current target that
// has a worker of p's generation loses its last one (else the master would
// start a worker for that position again, and retire it again).
func (m *Master) spare(p *proc, pool []*proc, keepPositions bool) bool {
	if !covered(p, pool) {
		return false
	}
	if keepPositions {
		with, without := m.positionHolders(p.gen, nil), m.positionHolders(p.gen, p)
		for i := range with {
			if with[i] > 0 && without[i] == 0 {
				return false
			}
		}
	}
	return true
}

// covered reports whether every lane of p is also held by another ready
// worker of pool.
func covered(p *proc, pool []*proc) bool {
	for _, l := range p.lanes {
		held := false
		for _, q := range pool {
			if q != p && q.ready && q.serving() && hasLane(q, l) {
				held = true
				break
			}
		}
		if !held {
			return false
		}
	}
	return true
}

func hasLane(p *proc, lane int) bool {
	for _, l := range p.lanes {
		if l == lane {
			return true
		}
	}
	return false
}
