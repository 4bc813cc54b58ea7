package prefork

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// identity is the user and groups the master switches to after binding.
type identity struct {
	uid  int   // -1 = keep
	gids []int // first is the primary group; empty = keep
	// gidsFrom names the option the groups come from: --group, or --user
	// alone (the user's primary group).
	gidsFrom string
}

// resolveIdentity looks up --user and --group (names or ids; groups
// separated by commas or spaces). With --user alone, the user's primary
// group is used.
//
// Without the privilege to switch (not root), an identity the process
// already has is accepted and nothing is done; any other fails here,
// before anything is built or bound, naming the option.
func resolveIdentity(userName, groups string) (*identity, error) {
	id, err := lookupIdentity(userName, groups)
	if err != nil || id == nil {
		return id, err
	}
	if id.uid >= 0 && !capable(unix.CAP_SETUID) {
		if id.uid != os.Getuid() || id.uid != os.Geteuid() {
			return nil, fmt.Errorf("--user %s: changing user needs root; starlight runs as %s", userName, whoAmI())
		}
		id.uid = -1 // already that user
	}
	if len(id.gids) > 0 && !capable(unix.CAP_SETGID) {
		switch {
		case groups != "" && !inGroups(id.gids):
			return nil, fmt.Errorf("--group %s: changing group needs root; starlight runs as %s", groups, whoAmI())
		case groups == "" && id.uid >= 0: // switching user, but not to the user's groups
			return nil, fmt.Errorf("--user %s: changing groups needs root; starlight runs as %s", userName, whoAmI())
		}
		// Already in those groups, or --user alone naming this very user:
		// the groups stay as they are.
		id.gids = nil
	}
	if id.uid < 0 && len(id.gids) == 0 {
		return nil, nil
	}
	return id, nil
}

// capable says whether this process has the capability (root has them
// all).
func capable(c uint) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return os.Geteuid() == 0
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}

// inGroups says whether the process already has gids: the first as its
// primary group, all among its groups.
func inGroups(gids []int) bool {
	if gids[0] != os.Getgid() || gids[0] != os.Getegid() {
		return false
	}
	have := map[int]bool{os.Getgid(): true}
	if sup, err := os.Getgroups(); err == nil {
		for _, g := range sup {
			have[g] = true
		}
	}
	for _, g := range gids {
		if !have[g] {
			return false
		}
	}
	return true
}

// whoAmI describes the process's user and group for messages.
func whoAmI() string {
	uid, gid := os.Geteuid(), os.Getegid()
	who := fmt.Sprintf("uid %d, gid %d", uid, gid)
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		who = u.Username + " (" + who + ")"
	}
	return who
}

// lookupIdentity resolves the names and ids of --user and --group.
func lookupIdentity(userName, groups string) (*identity, error) {
	id := &identity{uid: -1}
	if userName == "" && groups == "" {
		return nil, nil
	}
	var primary string
	if userName != "" {
		u, err := lookupUser(userName)
		if err != nil {
			return nil, &OptionError{fmt.Errorf("--user: unknown user %q", userName)}
		}
		id.uid, _ = strconv.Atoi(u.Uid)
		primary = u.Gid
	}
	names := strings.FieldsFunc(groups, func(r rune) bool { return r == ',' || r == ' ' })
	id.gidsFrom = "--group"
	if len(names) == 0 && primary != "" {
		names = []string{primary}
		id.gidsFrom = "--user"
	}
	for _, n := range names {
		g, err := lookupGroup(n)
		if err != nil {
			return nil, &OptionError{fmt.Errorf("--group: unknown group %q", n)}
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
			return fmt.Errorf("%s: setgroups: %w", id.gidsFrom, err)
		}
		if err := syscall.Setgid(id.gids[0]); err != nil {
			return fmt.Errorf("%s: setgid %d: %w", id.gidsFrom, id.gids[0], err)
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
func (id *identity) chown(path string) error { return id.own(os.Chown, path) }

// lchown is chown for a path in a directory the user may write (a unix
// socket in /run/myapp): a symlink put there is changed itself, never
// followed to a file of root's.
func (id *identity) lchown(path string) error { return id.own(os.Lchown, path) }

// own hands path to the identity's user and primary group with change
// (os.Chown or os.Lchown); -1 keeps what the identity leaves as it is.
func (id *identity) own(change func(string, int, int) error, path string) error {
	if id == nil {
		return nil
	}
	gid := -1
	if len(id.gids) > 0 {
		gid = id.gids[0]
	}
	return change(path, id.uid, gid)
}
