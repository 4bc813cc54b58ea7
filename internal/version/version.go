// Package version holds the release of starlight, shared by the master
// and the worker library (it goes in the Server header).
package version

// Version is the release; the Server header says "starlight/" + Version.
const Version = "0.1.0"
