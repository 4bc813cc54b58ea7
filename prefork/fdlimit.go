package prefork

import "github.com/starlight-go/starlight/internal/fdlimit"

// raiseFileLimit raises the master's soft limit on open files to the hard
// limit, which the workers then inherit (see internal/fdlimit for what Go
// does on its own), and logs both: a worker near its limit sheds the
// connections that have not sent a request, so the limit says how many
// idle or slow connections the pool holds at most.
func (m *Master) raiseFileLimit() {
	m.info("%s", fdlimit.Raise())
}
