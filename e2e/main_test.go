// Package e2e tests the starlight command end to end: the real master and
// worker binaries, real sockets on 127.0.0.1, real signals. TestMain builds
// cmd/starlight and the test app (testdata/app) once; every test starts its
// own master on a free port and checks that no worker outlives it. With
// -short the package is skipped, for a quick loop over the unit tests.
//
// The helpers every test uses are in harness_test.go; the tests are in
// files named for the area they cover.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

var (
	starlightBin string // the starlight command, built by TestMain
	appBin       string // the test app, built by TestMain
	wsappBin     string // the websocket test app (testdata/wsapp), built by TestMain
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse() // testing.Short reads the flags
	if testing.Short() {
		fmt.Println("e2e: skipped with -short: these tests start the real starlight binary; run without -short for them")
		return 0
	}
	if runtime.GOOS != "linux" {
		fmt.Println("e2e: skipped: these tests read /proc and need Linux")
		return 0
	}
	root, err := filepath.Abs("..")
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "go.mod"))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: module root: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "starlight-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	starlightBin = filepath.Join(dir, "starlight")
	appBin = filepath.Join(dir, "app")
	wsappBin = filepath.Join(dir, "wsapp")
	for _, b := range []struct{ out, pkg string }{
		{starlightBin, "./cmd/starlight"},
		{appBin, "./e2e/testdata/app"},
		{wsappBin, "./e2e/testdata/wsapp"},
	} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	return m.Run()
}
