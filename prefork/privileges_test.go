package prefork

import (
	"slices"
	"strings"
	"testing"
)

func TestResolveIdentity(t *testing.T) {
	id, err := resolveIdentity("", "")
	if err != nil || id != nil {
		t.Fatalf("no user, no group: %v %v", id, err)
	}
	id, err = resolveIdentity("root", "")
	if err != nil || id.uid != 0 || len(id.gids) != 1 || id.gids[0] != 0 {
		t.Fatalf("root: %+v %v", id, err)
	}
	id, err = resolveIdentity("0", "0, 1")
	if err != nil || id.uid != 0 || len(id.gids) != 2 || id.gids[1] != 1 {
		t.Fatalf("ids: %+v %v", id, err)
	}
	if _, err := resolveIdentity("no-such-user-here", ""); err == nil || !strings.Contains(err.Error(), `--user: unknown user "no-such-user-here"`) {
		t.Fatalf("unknown user: %v", err)
	}
	if _, err := resolveIdentity("", "no-such-group-here"); err == nil || !strings.Contains(err.Error(), "--group: unknown group") {
		t.Fatalf("unknown group: %v", err)
	}
}

// --group takes names or ids, separated by commas or spaces.
func TestGroupLists(t *testing.T) {
	for _, groups := range []string{"0,1", "0 1", "root, 1", "0 ,1"} {
		id, err := resolveIdentity("", groups)
		if err != nil {
			t.Errorf("--group %q: %v", groups, err)
			continue
		}
		if !slices.Equal(id.gids, []int{0, 1}) {
			t.Errorf("--group %q: groups %v, want [0 1]", groups, id.gids)
		}
	}
	if _, err := resolveIdentity("", "0,no-such-group-e2e"); err == nil || !strings.Contains(err.Error(), "no-such-group-e2e") {
		t.Errorf("an unknown group in a list: %v", err)
	}
}
