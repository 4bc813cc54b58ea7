package addr

import (
	"strings"
	"testing"
)

func TestIsUnix(t *testing.T) {
	for a, want := range map[string]bool{
		"/run/app.sock": true, "./app.sock": true, "app.sock": true, "@app": true, "\x00app": true,
		":8080": false, "127.0.0.1:1": false, "[::1]:2": false, "localhost:5000": false,
	} {
		if got := IsUnix(a); got != want {
			t.Errorf("IsUnix(%q) = %v, want %v", a, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]Addr{
		":5000":         {Kind: TCP, Port: 5000},
		"127.0.0.1:080": {Kind: TCP, Host: "127.0.0.1", Port: 80},
		"[::1]:1":       {Kind: TCP, Host: "::1", Port: 1},
		"localhost:0":   {Kind: TCP, Host: "localhost"},
		"/run/a.sock":   {Kind: Unix, Path: "/run/a.sock"},
		"a.sock":        {Kind: Unix, Path: "a.sock"},
		"@name":         {Kind: Abstract, Path: "name"},
		"\x00name":      {Kind: Abstract, Path: "name"},
	} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                             "empty",
		"5000":                         "want HOST:PORT",
		"1.2.3.4:99999":                "bad port",
		"[::1:80":                      "missing ']'",
		"1.2.3.999:80":                 "not an IP address",
		"bad!host:80":                  "not an IP address or host name",
		"/" + strings.Repeat("x", 107): "path too long",
		"@" + strings.Repeat("x", 108): "abstract name too long",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("Parse(%q): %v, want an error saying %q", in, err, msg)
		}
	}
}

// Two spellings of one address have one key; port 0 has none (each bind
// picks another port).
func TestKey(t *testing.T) {
	key := func(s string) string {
		a, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return a.Key()
	}
	if key("127.0.0.1:80") != key("127.0.0.1:080") || key("[::1]:80") != key("[0:0::1]:80") || key("Host.:80") != key("host:80") {
		t.Error("two spellings of one TCP address have different keys")
	}
	if key("./a.sock") != key("a.sock") {
		t.Error("./a.sock and a.sock have different keys")
	}
	if key(":0") != "" || key("@a") == key("/a") {
		t.Error("port 0 has a key, or an abstract name shares a path's")
	}
}

// Every address Parse accepts spells back into one that parses the same.
func FuzzParse(f *testing.F) {
	for _, s := range []string{":5000", "127.0.0.1:80", "[::1]:1", "/a.sock", "@x", "a.sock", "host:0", "[::]:65535", "\x00n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		b, err := Parse(a.String())
		if err != nil || a != b {
			t.Fatalf("Parse(%q) = %+v; its String %q parses to %+v, %v", s, a, a.String(), b, err)
		}
	})
}
