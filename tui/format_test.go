package tui

import (
	"testing"
	"time"
)

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0B", 512: "512B", 1024: "1.0K", 8283750: "7.9M", 14 << 20: "14M", 1288490189: "1.2G", 3 << 40: "3.0T",
	} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                         "0ms",
		180 * time.Millisecond:               "180ms",
		7400 * time.Millisecond:              "7.4s",
		42 * time.Second:                     "42s",
		4*time.Minute + 5*time.Second:        "4m05s",
		time.Hour + 2*time.Minute:            "1h02m",
		51*time.Hour + 10*time.Minute:        "2d03h",
		9*time.Second + 999*time.Millisecond: "9.9s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
	if got := age(300 * time.Millisecond); got != "0s" {
		t.Errorf("age(300ms) = %q", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 120154: "120,154", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSparkline(t *testing.T) {
	if got := sparkline([]float64{0, 1, 2, 4, 8}, 10); got != "▁▂▃▅█" {
		t.Errorf("sparkline = %q", got)
	}
	if got := sparkline([]float64{1, 2, 3, 0, 0}, 2); got != "▁▁" {
		t.Errorf("sparkline of zeros = %q", got)
	}
	if got := sparkline(nil, 5); got != "" {
		t.Errorf("empty sparkline = %q", got)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"a\tb":                 "a   b",
		"\x1b[31mred\x1b[0m\r": "red",
		"bell\a and \x00nul":   "bell and nul",
		"bad \xff utf8":        "bad \uFFFD utf8",
		// Progress redrawn in place: what the terminal shows last.
		"progress 10%\rprogress 50%\rprogress 100%": "progress 100%",
		"done\r\n": "done",
		// Widths terminals disagree on: a variation selector, a skin
		// tone, a joiner.
		"love \u2764\uFE0F here":                     "love \u2764 here",
		"thumbs \U0001F44D\U0001F3FD up":             "thumbs \U0001F44D up",
		"\U0001F468\u200D\U0001F469\u200D\U0001F467": "\U0001F468\U0001F469\U0001F467",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSpreadAndTruncate(t *testing.T) {
	if got := spread("left", "right", 12); got != "left   right" {
		t.Errorf("spread = %q", got)
	}
	if got := spread("a long left part", "right", 12); got != "a lon… right" {
		t.Errorf("spread cut = %q", got)
	}
	if got := truncateLeft("/home/dev/app", 8); got != "…dev/app" {
		t.Errorf("truncateLeft = %q", got)
	}
}
