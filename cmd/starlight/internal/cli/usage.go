package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/starlight-go/starlight/internal/version"
)

// Version is starlight's release.
const Version = version.Version

// Exit statuses of the starlight command.
const (
	ExitOK      = 0 // stopped as asked
	ExitFailure = 1 // could not start, or stopped on an error
	ExitUsage   = 2 // bad command line, or an option whose value is of no use
)

const usageHead = `Usage: starlight [options] [APP] [-- app arguments]
       starlight status|attach|ctl [--pid FILE | --control PATH] ...

A pre-forking HTTP server (HTTP/1.1, and HTTP/2 over TLS) for Go apps. APP
is a directory holding a Go main package (built with go build) or an
executable built with the httpserver package. Without APP, the current
directory if it is a main package. Under a terminal, a dashboard shows the
workers; with --quiet, or without a terminal, the server logs plain lines.
`

const usageTail = `
Signals: HUP slow restart, TERM/INT graceful stop (a second one forces),
QUIT immediate stop, TTIN/TTOU one worker more/fewer, USR1 reopen logs.
`

// usageWidth is the width --help fits in; helpColumn is where the
// options' descriptions start.
const (
	usageWidth = 80
	helpColumn = 31
)

// PrintUsage writes the --help text: every option with its default, from
// the option table (options.go).
func PrintUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(usageHead)
	for _, g := range groups {
		fmt.Fprintf(&b, "\n%s:\n", g.title)
		for _, o := range g.options {
			writeOption(&b, o)
		}
	}
	b.WriteString("\n")
	for _, o := range meta {
		writeOption(&b, o)
	}
	b.WriteString(usageTail)
	io.WriteString(w, b.String())
}

// writeOption writes one option: its names and value on the left, what
// it does (and its default) wrapped in the column on the right.
func writeOption(b *strings.Builder, o option) {
	left := "      "
	if o.short != "" {
		left = "  -" + o.short + ", "
	}
	left += "--" + o.name
	if o.arg != "" {
		left += " " + o.arg
	}
	text := o.help
	if o.alias != "" {
		text += "; alias --" + o.alias
	}
	words := strings.Fields(text)
	if o.def != "" {
		// "(default: 30)" stays on one line when it fits one.
		if d := "(default: " + o.def + ")"; len(d) <= usageWidth-helpColumn {
			words = append(words, d)
		} else {
			words = append(words, strings.Fields(d)...)
		}
	}
	line := left
	if len(line)+2 > helpColumn {
		line += "  " // the names overflow the column: the text follows them
	} else {
		line += strings.Repeat(" ", helpColumn-len(line))
	}
	fresh := true
	for _, word := range words {
		if !fresh && len(line)+1+len(word) > usageWidth {
			b.WriteString(line + "\n")
			line, fresh = strings.Repeat(" ", helpColumn), true
		}
		if !fresh {
			line += " "
		}
		line += word
		fresh = false
	}
	b.WriteString(line + "\n")
}
