package tui

import (
	"strings"

	"github.com/charmbracelet/x/ansi"
)

// box draws a pane as wide as the terminal and h rows high: a rounded
// border with the title and info in the top edge, a note in the bottom
// edge, and lines inside (cut or padded to fit).
func (m model) box(title, info string, lines []string, h int, focused bool, note string) string {
	return m.boxMarked(title, info, lines, h, focused, note, -1)
}

// boxMarked is box with line mark (if any) marked in the left margin.
func (m model) boxMarked(title, info string, lines []string, h int, focused bool, note string, mark int) string {
	w := m.width
	inner := max(0, w-4)
	border, titleStyle := m.st.border, m.st.title
	if focused {
		border, titleStyle = m.st.borderFocused, m.st.titleFocused
		if m.st.plain {
			title = "▶ " + title // no reverse video to show it
		}
	}

	// ╭─ Title ───────── info ─╮
	t := titleStyle.Render(" " + title + " ")
	i := ""
	if info != "" {
		i = " " + info + " "
	}
	fill := w - 4 - ansi.StringWidth(t) - ansi.StringWidth(i)
	if fill < 1 {
		i = ""
		fill = w - 4 - ansi.StringWidth(t)
	}
	if fill < 0 {
		t = truncate(t, max(0, w-4))
		fill = w - 4 - ansi.StringWidth(t)
	}
	var b strings.Builder
	b.WriteString(border.Render("╭─") + t + border.Render(strings.Repeat("─", max(0, fill))) + i + border.Render("─╮"))

	side := border.Render("│")
	for r := 0; r < h-2; r++ {
		line := ""
		if r < len(lines) {
			line = lines[r]
		}
		margin := " "
		if r == mark {
			margin = m.st.selected.Render("▸")
		}
		b.WriteString("\n" + side + margin + pad(line, inner) + " " + side)
	}

	// ╰──────────────── note ─╯
	n := ""
	if note != "" {
		n = " " + note + " "
	}
	fill = w - 3 - ansi.StringWidth(n)
	if fill < 0 {
		n, fill = "", w-3
	}
	b.WriteString("\n" + border.Render("╰"+strings.Repeat("─", max(0, fill))) + n + border.Render("─╯"))
	return b.String()
}
