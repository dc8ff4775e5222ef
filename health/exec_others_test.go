//go:build !unix

package health_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/health"
)

// TestExecCredentialUnsupported: without Unix credentials a set Credential is
// rejected by Validate and never silently ignored by Probe.
func TestExecCredentialUnsupported(t *testing.T) {
	e := health.Exec{Path: "cmd", Credential: &health.Credential{UID: 65534, GID: 65534}}
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("Validate: %v, want not supported", err)
	}
	if r := e.Probe(context.Background()); r.Up || !strings.Contains(r.Reason, "not supported") {
		t.Fatalf("Probe: up=%v reason=%q", r.Up, r.Reason)
	}
}
