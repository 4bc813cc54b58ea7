package tui

import tea "github.com/charmbracelet/bubbletea"

// buildOutputKey is e outside the Events pane.
func (m model) buildOutputKey() (tea.Model, tea.Cmd) {
	return m.setFlash("no failed build to show"), nil
}
