package cli

import (
	"strings"
	"testing"
)

// The request limits have gunicorn's names, defaults and ranges.
func TestRequestLimitOptions(t *testing.T) {
	c, err := ParseArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LimitRequestLine != 4094 || c.LimitRequestFields != 100 || c.LimitRequestFieldSize != 8190 {
		t.Fatalf("defaults: line %d, fields %d, field size %d", c.LimitRequestLine, c.LimitRequestFields, c.LimitRequestFieldSize)
	}
	c, err = ParseArgs([]string{"--limit-request-line=0", "--limit-request-fields", "32768", "--limit-request-field-size", "0"})
	if err != nil || c.LimitRequestLine != 0 || c.LimitRequestFields != 32768 || c.LimitRequestFieldSize != 0 {
		t.Fatalf("parsed: %v, %d %d %d", err, c.LimitRequestLine, c.LimitRequestFields, c.LimitRequestFieldSize)
	}
	for _, tc := range []struct{ args, want string }{
		{"--limit-request-line 8191", `--limit-request-line: must be between 0 and 8190: "8191"`},
		{"--limit-request-line -1", `--limit-request-line: must be between 0 and 8190: "-1"`},
		{"--limit-request-fields 32769", `--limit-request-fields: must be between 0 and 32768: "32769"`},
		{"--limit-request-field-size x", `--limit-request-field-size: not a whole number: "x"`},
	} {
		_, err := ParseArgs(strings.Fields(tc.args))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %s", tc.args, err, tc.want)
		}
	}
	var b strings.Builder
	PrintUsage(&b)
	for _, name := range []string{"--limit-request-line", "--limit-request-fields", "--limit-request-field-size"} {
		if !strings.Contains(b.String(), name+" ") {
			t.Errorf("--help does not list %s", name)
		}
	}
}
