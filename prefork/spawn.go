package prefork

import (
	"os/exec"
	"runtime"
)

// spawner starts every worker from one goroutine locked to its OS thread
// for the master's whole life. Linux sends a child its parent-death signal
// when the *thread* that forked it exits (golang/go#27505); a thread that
// never exits makes Pdeathsig mean "the master died".
type spawner struct {
	reqs chan spawnReq
}

type spawnReq struct {
	cmd   *exec.Cmd
	reply chan error
}

func newSpawner() *spawner {
	s := &spawner{reqs: make(chan spawnReq)}
	go s.run()
	return s
}

func (s *spawner) run() {
	runtime.LockOSThread()
	// Never unlocked and never returns: the thread lives as long as the
	// process.
	for r := range s.reqs {
		r.reply <- r.cmd.Start()
	}
	select {}
}

// start runs cmd.Start on the spawner's thread.
func (s *spawner) start(cmd *exec.Cmd) error {
	reply := make(chan error, 1)
	s.reqs <- spawnReq{cmd: cmd, reply: reply}
	return <-reply
}
