package tui

import (
	"io"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"github.com/starlight-go/starlight/status"
)

// Every colour has a light- and a dark-background variant so that the
// dashboard reads on both kinds of terminal.
var (
	colText    = lipgloss.AdaptiveColor{Light: "#1F2328", Dark: "#E6EDF3"}
	colMuted   = lipgloss.AdaptiveColor{Light: "#57606A", Dark: "#8B949E"}
	colFaint   = lipgloss.AdaptiveColor{Light: "#8C959F", Dark: "#6E7681"}
	colBorder  = lipgloss.AdaptiveColor{Light: "#D0D7DE", Dark: "#3D444D"}
	colAccent  = lipgloss.AdaptiveColor{Light: "#6639BA", Dark: "#A78BFA"}
	colGreen   = lipgloss.AdaptiveColor{Light: "#1A7F37", Dark: "#3FB950"}
	colYellow  = lipgloss.AdaptiveColor{Light: "#9A6700", Dark: "#D29922"}
	colOrange  = lipgloss.AdaptiveColor{Light: "#BC4C00", Dark: "#F0883E"}
	colRed     = lipgloss.AdaptiveColor{Light: "#CF222E", Dark: "#F85149"}
	colBlue    = lipgloss.AdaptiveColor{Light: "#0969DA", Dark: "#58A6FF"}
	colCyan    = lipgloss.AdaptiveColor{Light: "#1B7C83", Dark: "#39C5CF"}
	colMagenta = lipgloss.AdaptiveColor{Light: "#8250DF", Dark: "#D2A8FF"}
	colPink    = lipgloss.AdaptiveColor{Light: "#BF3989", Dark: "#F778BA"}
	colOnPill  = lipgloss.AdaptiveColor{Light: "#FFFFFF", Dark: "#0D1117"}
)

// pidColours are handed out to worker pids in the logs pane. Red is kept for
// stderr marks and failures.
var pidColours = []lipgloss.AdaptiveColor{
	colBlue, colGreen, colMagenta, colCyan, colYellow, colPink, colOrange,
}

// styles holds every style the dashboard draws with, all made by one
// renderer so that NO_COLOR and the terminal's colour profile apply to all.
type styles struct {
	r *lipgloss.Renderer

	text, muted, faint, bold lipgloss.Style
	good, warn, bad, accent  lipgloss.Style

	brand, badgeReload, badgeStop lipgloss.Style
	listener, label, value        lipgloss.Style
	spark                         lipgloss.Style

	border, borderFocused lipgloss.Style
	title, titleFocused   lipgloss.Style

	tableHeader lipgloss.Style
	states      map[status.WorkerState]lipgloss.Style
	stuck       lipgloss.Style
	oldGen      lipgloss.Style

	eventTime lipgloss.Style
	kinds     map[status.EventKind]lipgloss.Style
	detail    lipgloss.Style

	pids       []lipgloss.Style
	stdoutMark lipgloss.Style
	stderrMark lipgloss.Style
	accessMark lipgloss.Style
	access     lipgloss.Style
	exitMark   lipgloss.Style

	match, matchCurrent lipgloss.Style // search matches in the Logs pane
	selected            lipgloss.Style // the mark of the selected worker
	banner              lipgloss.Style // a failed build, a rollback

	flash, stopping lipgloss.Style
	help            help.Styles

	// plain: the terminal shows no attributes at all (NO_COLOR, or a
	// terminal without colours), so focus is marked with a glyph.
	plain bool
}

// newRenderer returns a renderer for out; with noColor it draws plain text:
// no colour, and no bold, underline or reverse video either.
func newRenderer(out io.Writer, noColor bool) *lipgloss.Renderer {
	r := lipgloss.NewRenderer(out)
	if noColor {
		r.SetColorProfile(termenv.Ascii)
	}
	return r
}

func newStyles(r *lipgloss.Renderer) *styles {
	fg := func(c lipgloss.TerminalColor) lipgloss.Style { return r.NewStyle().Foreground(c) }
	pill := func(c lipgloss.TerminalColor) lipgloss.Style {
		return r.NewStyle().Bold(true).Foreground(colOnPill).Background(c).Padding(0, 1)
	}
	s := &styles{
		r:      r,
		plain:  r.ColorProfile() == termenv.Ascii,
		text:   fg(colText),
		muted:  fg(colMuted),
		faint:  fg(colFaint),
		bold:   fg(colText).Bold(true),
		good:   fg(colGreen),
		warn:   fg(colYellow),
		bad:    fg(colRed).Bold(true),
		accent: fg(colAccent),

		brand:       pill(colAccent),
		badgeReload: pill(colYellow),
		badgeStop:   pill(colRed),
		listener:    fg(colBlue).Underline(true),
		label:       fg(colMuted),
		value:       fg(colText).Bold(true),
		spark:       fg(colAccent),

		border:        fg(colBorder),
		borderFocused: fg(colAccent),
		title:         fg(colMuted).Bold(true),
		titleFocused:  fg(colAccent).Bold(true).Reverse(true),

		tableHeader: fg(colMuted).Bold(true),
		states: map[status.WorkerState]lipgloss.Style{
			status.StateStarting: fg(colBlue),
			status.StateIdle:     fg(colGreen),
			status.StateBusy:     fg(colYellow).Bold(true),
			status.StateExiting:  fg(colFaint),
		},
		stuck:  fg(colRed).Bold(true),
		oldGen: fg(colYellow),

		eventTime: fg(colFaint),
		kinds: map[status.EventKind]lipgloss.Style{
			status.EventStarted:        fg(colGreen).Bold(true),
			status.EventSpawned:        fg(colBlue),
			status.EventReady:          fg(colGreen),
			status.EventRecycled:       fg(colCyan),
			status.EventHarakiri:       fg(colOrange),
			status.EventExited:         fg(colMuted),
			status.EventCrashed:        fg(colRed).Bold(true),
			status.EventPanic:          fg(colOrange).Bold(true),
			status.EventBackoff:        fg(colOrange),
			status.EventReloadStarted:  fg(colMagenta),
			status.EventReloadBuilt:    fg(colMagenta),
			status.EventReloadFailed:   fg(colRed).Bold(true),
			status.EventReloadFinished: fg(colGreen).Bold(true),
			status.EventScaled:         fg(colCyan),
			status.EventSignal:         fg(colYellow),
			status.EventStopping:       fg(colYellow).Bold(true),
			status.EventError:          fg(colRed).Bold(true),
			status.EventInfo:           fg(colText),
		},
		detail: fg(colMuted),

		stdoutMark: fg(colBorder),
		stderrMark: fg(colRed).Bold(true),
		accessMark: fg(colFaint),
		access:     fg(colFaint),
		exitMark:   fg(colMuted),

		match:        r.NewStyle().Foreground(colOnPill).Background(colYellow),
		matchCurrent: r.NewStyle().Foreground(colOnPill).Background(colOrange).Bold(true),
		selected:     fg(colAccent).Bold(true),
		banner:       fg(colRed).Bold(true),

		flash:    fg(colAccent).Bold(true),
		stopping: fg(colRed).Bold(true),
	}
	for _, c := range pidColours {
		s.pids = append(s.pids, fg(c))
	}
	s.help = help.Styles{
		ShortKey:       fg(colAccent).Bold(true),
		ShortDesc:      fg(colMuted),
		ShortSeparator: fg(colBorder),
		Ellipsis:       fg(colBorder),
		FullKey:        fg(colAccent).Bold(true),
		FullDesc:       fg(colMuted),
		FullSeparator:  fg(colBorder),
	}
	return s
}

// state returns the style of a worker state.
func (s *styles) state(st status.WorkerState) lipgloss.Style {
	if x, ok := s.states[st]; ok {
		return x
	}
	return s.text
}

// kind returns the style of an event kind.
func (s *styles) kind(k status.EventKind) lipgloss.Style {
	if x, ok := s.kinds[k]; ok {
		return x
	}
	return s.text
}

// pid returns the colour of a worker pid in the logs pane.
func (s *styles) pid(pid int) lipgloss.Style {
	if pid <= 0 {
		return s.muted
	}
	return s.pids[pid%len(s.pids)]
}
