package proto

import (
	"os"
	"reflect"
	"testing"
	"time"
)

// setSpec puts v in the worker's environment variable for the test, and
// reports whether it could (no NUL in it).
func setSpec(t *testing.T, v string) bool {
	t.Helper()
	old, had := os.LookupEnv(EnvSpec)
	t.Cleanup(func() {
		if had {
			os.Setenv(EnvSpec, old)
		} else {
			os.Unsetenv(EnvSpec)
		}
	})
	return os.Setenv(EnvSpec, v) == nil
}

// sameSpec compares two specs, an empty list the same as none (JSON
// leaves out an empty list the spec marks omitempty).
func sameSpec(a, b *Spec) bool {
	norm := func(s Spec) Spec {
		if len(s.Listeners) == 0 {
			s.Listeners = nil
		}
		if len(s.Cleanup) == 0 {
			s.Cleanup = nil
		}
		if len(s.HeldFDs) == 0 {
			s.HeldFDs = nil
		}
		return s
	}
	return reflect.DeepEqual(norm(*a), norm(*b))
}

// The worker's spec decoder never panics, on anything in its variable;
// a spec it accepts is one of this version, and encodes to a spec it
// decodes the same again: every accepted input round-trips.
func FuzzFromEnv(f *testing.F) {
	full := &Spec{
		MasterPID: 1, Standalone: true, Cleanup: []string{"/run/a.pid"}, HeldFDs: []int{7},
		Listeners:    []Listener{{FD: 3, Network: "tcp", Addr: "127.0.0.1:80", TLS: true, Lane: true}, {FD: 4, Network: "unix", Addr: "/a.sock"}},
		ErrorLog:     "/var/log/e.log",
		AccessLog:    "/var/log/a.log",
		Slot:         2,
		Slots:        8,
		ScoreboardFD: 5, DeathFD: 6, ReadyFD: 8, AccessFD: -1, Generation: 3, Budget: 1000,
		Timeout: 300 * time.Second, KeepaliveTimeout: 2 * time.Second, MaxKeepaliveReqs: 1, GracefulTimeout: 30 * time.Second,
		TLS: &TLS{CertFile: "c", KeyFile: "k", PEMFD: 9, CAFile: "ca", ClientCAFile: "cca", VerifyMode: 2},
	}
	for _, seed := range []string{
		full.Encode(),
		(&Spec{}).Encode(),
		"", "null", "{}", "[]", `{"version":1}`, `{"VERSION":` + "4" + `,"listeners":null}`,
		`{"version":4,"listeners":[{"fd":-1}],"cleanup":[],"tls":{}}`,
		`{"version":4,"timeout":9223372036854775807,"budget":18446744073709551615}`,
		`{"version":4,"error_log":"\xff\u0000"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if !setSpec(t, v) {
			return
		}
		s, err := FromEnv()
		if err != nil {
			return
		}
		if s == nil {
			t.Fatalf("%q: no spec and no error, with the variable set", v)
		}
		if s.Version != Version {
			t.Fatalf("%q: accepted with version %d, this is %d", v, s.Version, Version)
		}
		enc := s.Encode()
		os.Setenv(EnvSpec, enc)
		s2, err := FromEnv()
		if err != nil {
			t.Fatalf("%q accepted, but its encoding %q is not: %v", v, enc, err)
		}
		if !sameSpec(s, s2) {
			t.Fatalf("%q accepted as\n%+v\nbut its encoding %q decodes as\n%+v", v, s, enc, s2)
		}
	})
}

// Without the variable, FromEnv says this is no worker.
func TestFromEnvAbsent(t *testing.T) {
	setSpec(t, "")
	os.Unsetenv(EnvSpec)
	if s, err := FromEnv(); s != nil || err != nil {
		t.Errorf("no variable: %+v, %v; want nil, nil", s, err)
	}
}
