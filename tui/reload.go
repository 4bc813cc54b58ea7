package tui

import (
	"fmt"
	"strings"

	"github.com/starlight-go/starlight/status"
)

// reloadProgress is the header's account of a reload under way, in at
// most w cells: "reload → gen 3: 2/4 ready · 2 old draining · 1.4s ▰▰▱▱".
func (m model) reloadProgress(w int) string {
	st := m.st
	s := m.snap
	gen := s.ReloadGen
	if gen == 0 {
		gen = s.Generation
	}
	head := st.warn.Bold(true).Render(fmt.Sprintf("reload → gen %d", gen))
	elapsed := ""
	if !s.ReloadSince.IsZero() {
		elapsed = shortDuration(m.refTime().Sub(s.ReloadSince))
	}
	var parts []string
	bar, draining := "", ""
	if s.Building {
		parts = append(parts, st.warn.Render("building"))
	} else {
		ready, old := 0, 0
		for _, wk := range s.Workers {
			switch {
			case wk.Generation == gen && (wk.State == status.StateIdle || wk.State == status.StateBusy):
				ready++
			case wk.Generation < gen && wk.State == status.StateExiting:
				old++
			}
		}
		parts = append(parts, st.value.Render(fmt.Sprintf("%d/%d", ready, s.Target))+st.label.Render(" ready"))
		if old > 0 {
			draining = st.value.Render(fmt.Sprint(old)) + st.label.Render(" old draining")
		}
		if s.Target > 0 {
			n := min(8, s.Target*2)
			done := min(n, ready*n/s.Target)
			bar = " " + st.good.Render(strings.Repeat("▰", done)) + st.faint.Render(strings.Repeat("▱", n-done))
		}
	}
	if draining != "" {
		parts = append(parts, draining)
	}
	if elapsed != "" {
		parts = append(parts, st.value.Render(elapsed))
	}
	sep := st.faint.Render(" · ")
	// On narrow terminals the bar goes first, then the draining count,
	// then the time.
	candidates := [][]string{parts}
	if draining != "" {
		var without []string
		for _, p := range parts {
			if p != draining {
				without = append(without, p)
			}
		}
		candidates = append(candidates, without)
	}
	last := candidates[len(candidates)-1]
	candidates = append(candidates, last[:1])
	for i, c := range candidates {
		if i == 0 {
			if out := head + st.label.Render(": ") + strings.Join(c, sep) + bar; lenCells(out) <= w {
				return out
			}
		}
		if out := head + st.label.Render(": ") + strings.Join(c, sep); lenCells(out) <= w {
			return out
		}
	}
	return truncate(head, w)
}
