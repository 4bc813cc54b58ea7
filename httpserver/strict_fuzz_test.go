package httpserver

import (
	"testing"

	"github.com/starlight-go/starlight/internal/strictcases"
)

// FuzzScanner checks the scanner against net/http on any bytes: it never
// panics; it finds the same rule however the bytes are split into reads;
// what it lets through, net/http frames exactly as it does (the same
// request ends), so no request can hide from it in another's body; and it
// never refuses a request of the valid table. The seed corpus, every
// request of the tables, runs as a normal test in go test.
func FuzzScanner(f *testing.F) {
	valid := map[string]bool{}
	for _, g := range strictcases.Goods {
		valid[g.Raw] = true
		if len(g.Raw) > 4096 {
			continue // too big to mutate well: TestScannerServesGoods has them
		}
		f.Add([]byte(g.Raw), uint8(0))
		f.Add([]byte(g.Raw), uint8(1))
	}
	for _, b := range strictcases.Bads {
		if len(b.Raw) > 4096 {
			continue
		}
		f.Add([]byte(b.Raw), uint8(0))
		f.Add([]byte(b.Raw), uint8(3))
		f.Add([]byte(validGETRaw+b.Raw), uint8(0))
	}
	f.Fuzz(func(t *testing.T, raw []byte, piece uint8) {
		whole, _ := scanAll(defaultLimits, string(raw), 0)
		split, _ := scanAll(defaultLimits, string(raw), int(piece))
		if whole != split {
			t.Fatalf("in one read: %q; in reads of %d: %q", whole, piece, split)
		}
		if valid[string(raw)] && whole != ruleNone {
			t.Fatalf("a valid request refused: %q", whole)
		}
		checkFraming(t, raw)
	})
}

const validGETRaw = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
