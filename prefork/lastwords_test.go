package prefork

import "testing"

func TestLastWords(t *testing.T) {
	for _, tc := range []struct {
		name    string
		batches []string
		want    string
	}{
		{"nothing", nil, ""},
		{"last line", []string{"starting\n", "FATAL: cannot connect\n\n  \n"}, "FATAL: cannot connect"},
		{"a panic, not its stack", []string{"panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n", "\t/src/main.go:9 +0x1d\n"}, "panic: boom"},
		{"a runtime fatal error", []string{"fatal error: out of memory\n\nruntime stack:\n"}, "fatal error: out of memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l lastWords
			for _, b := range tc.batches {
				l.keep([]byte(b))
			}
			if got := l.said(); got != tc.want {
				t.Errorf("said %q, want %q", got, tc.want)
			}
		})
	}
	var l lastWords
	l.keep([]byte("before ready\n"))
	l.done.Store(true)
	l.keep([]byte("after ready\n"))
	if got := l.said(); got != "before ready" {
		t.Errorf("kept a line written after ready: said %q", got)
	}
	long := make([]byte, 1000)
	for i := range long {
		long[i] = 'x'
	}
	var m lastWords
	m.keep(append(long, '\n'))
	if got := m.said(); len(got) != maxWord+3 {
		t.Errorf("a 1000-byte line kept as %d bytes, want %d", len(got), maxWord+3)
	}
}
