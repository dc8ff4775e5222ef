//go:build !linux

package netns

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"

	"github.com/lvskit/lvskit/internal/testenv"
)

func requirePlatform(t testing.TB) {
	t.Helper()
	testenv.Unavailable(t, "network namespaces are not supported on %s", runtime.GOOS)
}

func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { _ = p.Kill() }

// Do is not supported outside Linux.
func (n *Node) Do(func() error) error {
	return fmt.Errorf("netns: not supported on %s", runtime.GOOS)
}
