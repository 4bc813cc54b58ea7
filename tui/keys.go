package tui

import "github.com/charmbracelet/bubbles/key"

// keyMap holds every key the dashboard answers to; it feeds bubbles/help.
type keyMap struct {
	Reload    key.Binding
	ScaleUp   key.Binding
	ScaleDown key.Binding
	Stop      key.Binding
	Interrupt key.Binding
	// StopServer is Q in a dashboard attached to a running server (where
	// q detaches); it asks for confirmation.
	StopServer key.Binding

	NextPane key.Binding
	PrevPane key.Binding
	Up       key.Binding
	Down     key.Binding
	PageUp   key.Binding
	PageDown key.Binding
	Home     key.Binding
	End      key.Binding

	Follow key.Binding
	Access key.Binding
	Clear  key.Binding
	Help   key.Binding

	Enter     key.Binding // Workers: its logs alone; Logs: matching lines alone
	Esc       key.Binding // clears the search and the filters of the Logs pane
	Recycle   key.Binding
	Kill      key.Binding
	Search    key.Binding
	NextMatch key.Binding
	PrevMatch key.Binding
	Problems  key.Binding // Events: problems only; elsewhere, the build output

	scale  key.Binding // help only: +/- together
	scroll key.Binding // help only: the arrows together
}

func defaultKeyMap() keyMap {
	return keyMap{
		Reload:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reload")),
		ScaleUp:   key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "add a worker")),
		ScaleDown: key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "remove a worker")),
		Stop:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		Interrupt: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit; twice: force")),
		StopServer: key.NewBinding(key.WithKeys("Q"), key.WithHelp("Q", "stop the server"),
			key.WithDisabled()),

		NextPane: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "focus")),
		PrevPane: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "focus back")),
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "scroll up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "scroll down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Home:     key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("home/g", "top")),
		End:      key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("end/G", "bottom")),

		Follow: key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "follow")),
		Access: key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "access log")),
		Clear:  key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "clear logs")),
		Help:   key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),

		Enter:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "filter logs")),
		Esc:       key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filters")),
		Recycle:   key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "recycle worker")),
		Kill:      key.NewBinding(key.WithKeys("K"), key.WithHelp("K", "kill worker")),
		Search:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search logs")),
		NextMatch: key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "next match")),
		PrevMatch: key.NewBinding(key.WithKeys("N"), key.WithHelp("N", "prev match")),
		Problems:  key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "problems/build")),

		scale:  key.NewBinding(key.WithKeys("+", "-"), key.WithHelp("+/-", "scale")),
		scroll: key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓", "scroll")),
	}
}

// attachedKeyMap is the keys of a dashboard attached to a running server:
// q and ctrl+c detach and leave it running; Q stops it, once confirmed.
func attachedKeyMap() keyMap {
	k := defaultKeyMap()
	k.Stop = key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "detach"))
	k.Interrupt = key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "detach"))
	k.StopServer.SetEnabled(true)
	return k
}

// ShortHelp is the one-line footer; what matters most comes first, since
// the line is cut on narrow terminals.
func (k keyMap) ShortHelp() []key.Binding {
	return []key.Binding{
		k.Reload, k.scale, k.NextPane, k.Follow, k.Access, k.Stop, k.Help, k.Search,
		k.Clear, k.scroll,
	}
}

// FullHelp is shown by ?.
func (k keyMap) FullHelp() [][]key.Binding {
	first := []key.Binding{k.Reload, k.ScaleUp, k.ScaleDown, k.Stop, k.Interrupt}
	if k.StopServer.Enabled() {
		first = append(first, k.StopServer)
	}
	return [][]key.Binding{
		first,
		{k.NextPane, k.PrevPane, k.Up, k.Down, k.PageUp},
		{k.PageDown, k.Home, k.End, k.Enter, k.Esc},
		{k.Recycle, k.Kill, k.Problems, k.Search, k.NextMatch},
		{k.PrevMatch, k.Follow, k.Access, k.Clear, k.Help},
	}
}
