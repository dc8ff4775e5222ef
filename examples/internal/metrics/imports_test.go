package metrics

import (
	"os/exec"
	"strings"
	"testing"
)

// The library must not force the Prometheus client on its users: only the
// examples import it.
func TestLibraryDoesNotImportPrometheus(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command("go", "list", "-deps",
		"../../../vrrp/...", "../../../vip/...", "../../../arp/...", "../../../health/...", "../../../ipvs/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "prometheus") {
			t.Errorf("a library package depends on %s", pkg)
		}
	}
}
