package control

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/starlight-go/starlight/status"
)

// Frames written are the frames read, in order.
func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	cmd := status.Command{Kind: status.CmdScale, Workers: 7}
	in := []Request{{Op: OpWatch, History: true}, {Op: OpCommand, ID: 3, Command: &cmd}, {Op: OpSnapshot, ID: 4}}
	for _, r := range in {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	for i, want := range in {
		var got Request
		if err := r.Read(&got); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Op != want.Op || got.ID != want.ID || got.History != want.History ||
			(want.Command != nil && (got.Command == nil || *got.Command != *want.Command)) {
			t.Errorf("frame %d: got %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

// A frame over MaxFrame is refused without reading it all into memory
// first, and a frame cut by the end of the stream is an error.
func TestFrameLimits(t *testing.T) {
	big := strings.NewReader(`{"op":"` + strings.Repeat("x", 3*MaxFrame) + "\"}\n")
	if _, err := NewReader(big).Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("a 3 MiB frame: %v, want ErrFrameTooLarge", err)
	}
	if big.Len() < MaxFrame {
		t.Errorf("the reader read %d bytes of a frame it refuses", 3*MaxFrame-big.Len())
	}
	exact := `{"op":"` + strings.Repeat("x", MaxFrame-len(`{"op":""}`)-1) + "\"}\n"
	if _, err := NewReader(strings.NewReader(exact)).Next(); err != nil {
		t.Errorf("a frame of exactly MaxFrame bytes: %v", err)
	}
	if _, err := NewReader(strings.NewReader(`{"op":"watch"`)).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a cut frame: %v, want ErrUnexpectedEOF", err)
	}
	var req Request
	for _, bad := range []string{"", "null", "[1]", "\"op\"", "{", "garbage"} {
		if err := Decode([]byte(bad), &req); !errors.Is(err, ErrBadFrame) {
			t.Errorf("Decode(%q) = %v, want ErrBadFrame", bad, err)
		}
	}
}

// A peer of another protocol or version gets an error that says so.
func TestCheckHello(t *testing.T) {
	if err := CheckHello(Hello{Protocol: Protocol, Version: Version}, "server"); err != nil {
		t.Errorf("same version: %v", err)
	}
	err := CheckHello(Hello{Protocol: Protocol, Version: Version + 1, Starlight: "9.9"}, "server")
	if err == nil || !strings.Contains(err.Error(), "version 2 (starlight 9.9)") || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("another version: %v", err)
	}
	if err := CheckHello(Hello{Protocol: "http", Version: Version}, "client"); err == nil {
		t.Error("another protocol accepted")
	}
}

// Whatever a peer sends, the reader returns frames or an error, never
// panics, never returns a frame over MaxFrame, and Decode accepts only
// JSON objects.
func FuzzReader(f *testing.F) {
	f.Add([]byte(`{"protocol":"starlight-control","version":1}` + "\n" + `{"op":"watch","history":true}` + "\n"))
	f.Add([]byte(`{"op":"command","command":{"Kind":"scale","Workers":3}}` + "\n"))
	f.Add([]byte("\x00\xff\n\n{\n"))
	f.Add([]byte(`{"op":1e999}` + "\n"))
	f.Add([]byte(`{"op":"snapshot","id":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		for range 1000 {
			b, err := r.Next()
			if err != nil {
				return
			}
			if len(b) >= MaxFrame {
				t.Fatalf("frame of %d bytes", len(b))
			}
			var req Request
			if err := Decode(b, &req); err == nil {
				if tb := bytes.TrimSpace(b); len(tb) == 0 || tb[0] != '{' {
					t.Fatalf("Decode accepted %q", b)
				}
			}
			var h Hello
			Decode(b, &h)
			CheckHello(h, "client")
		}
	})
}
