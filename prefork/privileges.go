package prefork

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/starlight-go/starlight/internal/logfile"
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

// chown hands a directory or file the master made (the build directory,
// a build in it) to the identity, so that workers running as it can use
// it: through a descriptor of what is at path, a symbolic link there
// never followed.
func (id *identity) chown(path string) error {
	if id == nil {
		return nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err == unix.ELOOP {
		err = logfile.ErrSymlink
	}
	if err != nil {
		return &os.PathError{Op: "chown", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, id.uid, id.gid()); err != nil {
		return &os.PathError{Op: "chown", Path: path, Err: err}
	}
	return nil
}

// chownFile hands an open log file to the identity: a regular file or a
// named pipe, never a device (/dev/null stays root's).
func (id *identity) chownFile(f *os.File) error {
	if id == nil {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if t := st.Mode & unix.S_IFMT; t != unix.S_IFREG && t != unix.S_IFIFO {
		return nil
	}
	return unix.Fchown(int(f.Fd()), id.uid, id.gid())
}

// chownSocket hands the file of a unix socket the master bound to the
// identity. The socket's own descriptor cannot change the file, so the
// path is opened without following a link (O_PATH) and changed through
// that descriptor only if it is still the socket bound: whoever may write
// the socket's directory (the user, in /run/myapp) could have put a link
// to a file of root's in its place.
func (id *identity) chownSocket(l *listener) error {
	if id == nil {
		return nil
	}
	fd, err := unix.Open(l.path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("listen %s: %w", l.path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("listen %s: %w", l.path, err)
	}
	var b *syscall.Stat_t
	if l.bound != nil {
		b, _ = l.bound.Sys().(*syscall.Stat_t)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || b == nil || b.Dev != st.Dev || b.Ino != st.Ino {
		return fmt.Errorf("listen %s: replaced since it was bound: not handed to %s", l.path, id.gidsFromOr("--user"))
	}
	if err := unix.Fchownat(fd, "", id.uid, id.gid(), unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("listen %s: chown: %w", l.path, err)
	}
	return nil
}

// gid is the identity's primary group, or -1 to keep it.
func (id *identity) gid() int {
	if len(id.gids) > 0 {
		return id.gids[0]
	}
	return -1
}

// gidsFromOr names the option the identity comes from, for messages.
func (id *identity) gidsFromOr(def string) string {
	if id.uid < 0 && id.gidsFrom != "" {
		return id.gidsFrom
	}
	return def
}
