//go:build linux

package ipvs_test

import (
	"errors"
	"os"
	"testing"

	"github.com/lvskit/lvskit/ipvs"
)

// Open on the host either finds IPVS or says precisely that it is missing; it
// never programs anything here.
func TestOpenHost(t *testing.T) {
	c, err := ipvs.Open(nil)
	switch {
	case err == nil:
		c.Close()
		t.Log("host kernel has IPVS")
	case errors.Is(err, ipvs.ErrNotSupported):
		t.Logf("as expected without ip_vs: %v", err)
	default:
		t.Fatalf("Open: %v, want success or ErrNotSupported", err)
	}
	if _, err := ipvs.Open(&ipvs.Config{NetNSPath: "/nonexistent/netns"}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open with a missing namespace: %v, want os.ErrNotExist", err)
	}
}
