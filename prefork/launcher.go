package prefork

// Launcher is the command that started this master as a daemon (-D) and
// waits to hear how the start went; Config.Launcher is nil otherwise.
type Launcher interface {
	Ready()           // the master serves
	Failed(err error) // it did not start, or stopped before it served
	// Execing says that the master is about to exec the app in its
	// place (--max-workers 0): a successful exec then says the rest.
	Execing() error
}

// daemonized says whether a -D command waits on this master.
func (m *Master) daemonized() bool { return m.cfg.Launcher != nil }

// launched tells the launching command, if any, how the start went.
func (m *Master) launched(err error) {
	if l := m.cfg.Launcher; l != nil {
		if err != nil {
			l.Failed(err)
		} else {
			l.Ready()
		}
	}
}
