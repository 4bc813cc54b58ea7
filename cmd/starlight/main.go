// Command starlight is the master of a pre-forking HTTP server: it binds
// the listeners and keeps a pool of worker processes running the app.
package main

import (
	"os"

	"github.com/starlight-go/starlight/cmd/starlight/internal/launch"
)

func main() { os.Exit(launch.Main(os.Args[1:])) }
