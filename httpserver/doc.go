// Package httpserver is the worker side of starlight: an app hands its
// http.Handler to Serve, and the program becomes a worker when a starlight
// master started it, or a plain one-process server when run by hand.
//
// It configures net/http's Server for the Starlight semantics (keep-alive
// accounting, timeouts, TLS, a 500 for a panic, the access log), keeps the
// worker's scoreboard slot up to date with a few atomic stores per request,
// and exits gracefully after its request budget, on SIGTERM, when the app
// calls Harakiri, or when the master goes away.
//
// It imports only the standard library and starlight's internal protocol
// packages, so that an app binary stays small; it never imports prefork.
package httpserver
