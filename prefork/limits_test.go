package prefork

import "testing"

// 0 fields means gunicorn's most, 32768, in the worker's spec.
func TestRequestLimitsInSpec(t *testing.T) {
	m := &Master{cfg: DefaultConfig()}
	s := m.serverSpec()
	if s.LimitRequestLine != 4094 || s.LimitRequestFields != 100 || s.LimitRequestFieldSize != 8190 {
		t.Fatalf("spec: %+v", s)
	}
	m.cfg.LimitRequestFields = 0
	if s := m.serverSpec(); s.LimitRequestFields != 32768 {
		t.Fatalf("--limit-request-fields 0: %d in the spec", s.LimitRequestFields)
	}
}
