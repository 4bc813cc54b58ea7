package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every option is in the README's table of options, in one row of its
// own, with the default --help gives; and the table names no option that
// does not exist.
func TestReadmeListsEveryOption(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Options\n")
	if !ok {
		t.Fatal("README.md has no ## Options section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	type row struct{ names, def string }
	var rows []row
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(line, "| `") {
			continue
		}
		rows = append(rows, row{strings.TrimSpace(cells[1]), strings.TrimSpace(strings.ReplaceAll(cells[2], "`", ""))})
	}
	if len(rows) == 0 {
		t.Fatal("no rows in the README's table of options")
	}
	names := map[string]bool{}
	var all []option
	for _, g := range groups {
		all = append(all, g.options...)
	}
	for _, o := range append(all, meta...) {
		names["--"+o.name] = true
		var found []row
		for _, r := range rows {
			if strings.Contains(r.names, "`--"+o.name+"`") || strings.Contains(r.names, "`--"+o.name+" ") {
				found = append(found, r)
			}
		}
		switch {
		case len(found) == 0:
			t.Errorf("--%s is not in the README's table of options", o.name)
		case len(found) > 1:
			t.Errorf("--%s is in %d rows of the README's table", o.name, len(found))
		case found[0].def != o.def:
			t.Errorf("--%s: the README's default is %q, --help's %q", o.name, found[0].def, o.def)
		}
		if o.alias != "" {
			names["--"+o.alias] = true
		}
	}
	for _, r := range rows {
		for _, f := range strings.Fields(strings.NewReplacer("`", " ", ",", " ", "(", " ", ")", " ").Replace(r.names)) {
			if strings.HasPrefix(f, "--") && !names[f] {
				t.Errorf("the README's table names %s, which is no option", f)
			}
		}
	}
}
