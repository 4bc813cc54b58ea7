package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/charmbracelet/x/ansi"
)

// humanBytes formats a byte count the way top does: 512B, 7.9M, 1.2G.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	v := float64(n)
	for _, suffix := range []string{"K", "M", "G", "T", "P"} {
		v /= unit
		if v < unit || suffix == "P" {
			if v < 10 {
				return strconv.FormatFloat(v, 'f', 1, 64) + suffix
			}
			return strconv.FormatFloat(v, 'f', 0, 64) + suffix
		}
	}
	return "?"
}

// shortDuration formats d in at most two units: 340ms, 4.2s, 59s, 4m05s,
// 1h02m, 3d04h.
func shortDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	case d < 10*time.Second:
		return strconv.FormatFloat(math.Floor(d.Seconds()*10)/10, 'f', 1, 64) + "s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

// age formats how long something has been running, in whole seconds.
func age(d time.Duration) string {
	if d < time.Minute {
		if d < 0 {
			d = 0
		}
		return strconv.Itoa(int(d.Seconds())) + "s"
	}
	return shortDuration(d)
}

// thousands formats n with comma separators: 12,345.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// rate formats a per-second rate with one decimal below 100.
func rate(v float64) string {
	switch {
	case v <= 0:
		return "0"
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

var sparkBlocks = []rune("▁▂▃▄▅▆▇█")

// sparkline draws the last width values (at most) as unicode blocks scaled
// to their maximum, newest on the right. Zero is the lowest block and any
// non-zero value at least the second lowest.
func sparkline(values []float64, width int) string {
	if width <= 0 {
		return ""
	}
	if len(values) > width {
		values = values[len(values)-width:]
	}
	peak := 0.0
	for _, v := range values {
		peak = max(peak, v)
	}
	var b strings.Builder
	for _, v := range values {
		level := 0
		if v > 0 && peak > 0 {
			level = max(1, int(math.Ceil(v/peak*float64(len(sparkBlocks)-1))))
		}
		b.WriteRune(sparkBlocks[min(level, len(sparkBlocks)-1)])
	}
	return b.String()
}

// sanitize makes text from a worker safe to draw on one line: escape
// sequences are removed, tabs expanded and other control characters
// dropped. A line redrawn with carriage returns (a progress bar) keeps what
// a terminal would show last: the text after the last one. Characters
// whose width terminals disagree on are dropped (see unsure).
func sanitize(s string) string {
	s = ansi.Strip(strings.ToValidUTF8(s, "\uFFFD"))
	if i := strings.LastIndexByte(strings.TrimRight(s, "\r\n"), '\r'); i >= 0 {
		s = s[i+1:]
	}
	clean := true
	for _, r := range s {
		if r == '\t' || unicode.IsControl(r) || unsure(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch {
		case r == '\t':
			n := 4 - col%4
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case unicode.IsControl(r), unsure(r):
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}

// unsure reports the characters that join or change the look of the one
// before, which terminals draw in different widths: the emoji variation
// selectors (❤️ is one cell in some, two in others), the skin tone
// modifiers (👍🏽 two or four) and the zero-width joiner of emoji
// sequences. Without them each character keeps the width every terminal
// and the layout agree on, and a line of the app's never pushes the
// dashboard's borders out of place.
func unsure(r rune) bool {
	return r == 0xFE0E || r == 0xFE0F || r == 0x200D || (r >= 0x1F3FB && r <= 0x1F3FF)
}

// truncate cuts s, which may hold escape sequences, to at most w cells,
// ending it with an ellipsis if anything was cut.
func truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}

// truncateLeft keeps the last cells of a plain string, starting it with an
// ellipsis if anything was cut: …/build/app.
func truncateLeft(s string, w int) string {
	n := ansi.StringWidth(s)
	if n <= w {
		return s
	}
	if w <= 1 {
		return truncate("…", w)
	}
	return "…" + ansi.TruncateLeft(s, n-w+1, "")
}

// pad cuts or pads s with spaces to exactly w cells.
func pad(s string, w int) string {
	s = truncate(s, w)
	if n := ansi.StringWidth(s); n < w {
		s += strings.Repeat(" ", w-n)
	}
	return s
}

// padLeft right-aligns s in w cells.
func padLeft(s string, w int) string {
	s = truncate(s, w)
	if n := ansi.StringWidth(s); n < w {
		s = strings.Repeat(" ", w-n) + s
	}
	return s
}

// spread lays left and right out on one line of w cells with spaces
// between; the left part gives way if both do not fit.
func spread(left, right string, w int) string {
	rw := ansi.StringWidth(right)
	if rw > w {
		return pad(right, w)
	}
	left = truncate(left, w-rw-min(1, w-rw))
	gap := w - rw - ansi.StringWidth(left)
	return left + strings.Repeat(" ", gap) + right
}

// lenCells is the width of s in cells, escape sequences not counted.
func lenCells(s string) int { return ansi.StringWidth(s) }
