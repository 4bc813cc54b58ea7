package control

import (
	"os"
	"path/filepath"
	"strconv"
)

// Dir is the directory a master running as uid puts its control socket
// in by default: /run/starlight for root, $XDG_RUNTIME_DIR/starlight for
// a user who has one, and starlight-UID in the temporary directory for
// one who has not.
func Dir(uid int) string {
	if uid == 0 {
		return "/run/starlight"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "starlight")
	}
	return filepath.Join(os.TempDir(), "starlight-"+strconv.Itoa(uid))
}

// DefaultPath is the control socket of the master pid running as uid.
func DefaultPath(uid, pid int) string {
	return filepath.Join(Dir(uid), strconv.Itoa(pid)+".sock")
}

// PidFilePath is the control socket beside a --pid file.
func PidFilePath(pidFile string) string { return pidFile + ".sock" }
