package prefork

import "github.com/starlight-go/starlight/status"

// Observer receives what the master reports. Event is called from the
// master's own goroutine and Log from the goroutines reading worker output:
// an implementation must be safe for concurrent use and must not block for
// long (a dashboard queues and returns).
type Observer interface {
	Event(status.Event)
	Log(status.LogLine)
}
