package proto

import "testing"

func TestIsUnixAddr(t *testing.T) {
	for a, want := range map[string]bool{
		"/run/app.sock": true, "./app.sock": true, "app.sock": true, "@app": true, "\x00app": true,
		":8080": false, "127.0.0.1:1": false, "[::1]:2": false, "localhost:5000": false,
	} {
		if got := IsUnixAddr(a); got != want {
			t.Errorf("IsUnixAddr(%q) = %v, want %v", a, got, want)
		}
	}
}
