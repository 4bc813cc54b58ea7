// Package sdnotify sends states to systemd's notify socket
// ($NOTIFY_SOCKET): READY=1, RELOADING=1, STOPPING=1, STATUS=...
package sdnotify

import (
	"net"
	"os"
	"strings"
	"time"
)

// Notify sends state to systemd's notify socket, if there is one; errors
// are ignored, as systemd's own sd_notify leaves them to nobody.
func Notify(state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write([]byte(state))
}
