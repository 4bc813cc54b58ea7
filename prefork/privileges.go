package prefork

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
)

// identity is the user and groups the master switches to after binding.
type identity struct {
	uid  int   // -1 = keep
	gids []int // first is the primary group; empty = keep
}

// resolveIdentity looks up --user and --group (names or ids; groups
// separated by commas or spaces). With --user alone, the user's primary
// group is used.
func resolveIdentity(userName, groups string) (*identity, error) {
	id := &identity{uid: -1}
	if userName == "" && groups == "" {
		return nil, nil
	}
	var primary string
	if userName != "" {
		u, err := lookupUser(userName)
		if err != nil {
			return nil, usageErrorf("--user: unknown user %q", userName)
		}
		id.uid, _ = strconv.Atoi(u.Uid)
		primary = u.Gid
	}
	names := strings.FieldsFunc(groups, func(r rune) bool { return r == ',' || r == ' ' })
	if len(names) == 0 && primary != "" {
		names = []string{primary}
	}
	for _, n := range names {
		g, err := lookupGroup(n)
		if err != nil {
			return nil, usageErrorf("--group: unknown group %q", n)
		}
		gid, _ := strconv.Atoi(g.Gid)
		id.gids = append(id.gids, gid)
	}
	return id, nil
}

func lookupUser(s string) (*user.User, error) {
	if _, err := strconv.Atoi(s); err == nil {
		if u, err := user.LookupId(s); err == nil {
			return u, nil
		}
		return &user.User{Uid: s, Gid: s, Username: s}, nil // a bare id is fine
	}
	return user.Lookup(s)
}

func lookupGroup(s string) (*user.Group, error) {
	if _, err := strconv.Atoi(s); err == nil {
		return &user.Group{Gid: s, Name: s}, nil
	}
	return user.LookupGroup(s)
}

// drop switches the whole process (every thread) to the identity, with
// exactly the given supplementary groups: no root group survives.
func (id *identity) drop() error {
	if id == nil {
		return nil
	}
	if len(id.gids) > 0 {
		if err := syscall.Setgroups(id.gids); err != nil {
			return fmt.Errorf("--group: setgroups: %w", err)
		}
		if err := syscall.Setgid(id.gids[0]); err != nil {
			return fmt.Errorf("--group: setgid %d: %w", id.gids[0], err)
		}
	}
	if id.uid >= 0 {
		if err := syscall.Setuid(id.uid); err != nil {
			return fmt.Errorf("--user: setuid %d: %w", id.uid, err)
		}
	}
	return nil
}

// chown hands a path the master made to the identity, so that workers
// running as it can use it.
func (id *identity) chown(path string) error {
	if id == nil {
		return nil
	}
	gid := -1
	if len(id.gids) > 0 {
		gid = id.gids[0]
	}
	return os.Chown(path, id.uid, gid)
}
