package ipvs_test

import (
	"os"
	"testing"

	"github.com/lvskit/lvskit/internal/vmtest"
)

// vmModules are loaded in the test VM: IPVS with every scheduler and the SIP
// persistence engine this kernel (Debian 12 cloud, Linux 6.1) ships, plus veth
// and bridge for the traffic tests' namespaces.
var vmModules = []string{
	"ip_vs", "ip_vs_pe_sip",
	"ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr",
	"ip_vs_dh", "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_fo", "ip_vs_ovf", "ip_vs_mh",
	"veth", "bridge",
}

// TestInKernelVM runs this package's TestKernel* tests under a real kernel with
// IPVS: it builds the package's test binary, boots the VM once (see
// internal/vmtest) and reports every inner test as a subtest, so a failure in
// the VM fails here with its own message. Tier 3: skipped with -short, and
// without qemu or the kernel (make setup) unless LVSKIT_STRICT=1.
//
// LVSKIT_VM_RUN narrows the inner tests (a -test.run pattern), e.g.
// LVSKIT_VM_RUN=TestKernelTraffic go test -run TestInKernelVM ./ipvs
func TestInKernelVM(t *testing.T) {
	if os.Getenv("LVSKIT_IPVS_KERNEL") == "1" {
		t.Skip("already inside the kernel VM")
	}
	run := "^TestKernel"
	if p := os.Getenv("LVSKIT_VM_RUN"); p != "" {
		run = p
	}
	res := vmtest.Run(t, vmtest.Options{
		Builds:       []vmtest.Build{{Name: "ipvs.test", Package: ".", Test: true}},
		HostPrograms: []string{"ipvsadm", "ip"},
		Modules:      vmModules,
		Runs: []vmtest.Command{{
			Name: "ipvs.test",
			Args: []string{"ipvs.test", "-test.v", "-test.run", run, "-test.timeout", "8m"},
			Env:  []string{"LVSKIT_IPVS_KERNEL=1"},
		}},
	})
	vmtest.ReportGoTest(t, res.Runs[0])
}
