package kaconf_test

import (
	"fmt"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
)

// A director's keepalived.conf: the VRRP instance that moves the VIP and the
// IPVS service behind it, with the health checks of its real servers.
func ExampleParse() {
	cfg, diags, err := kaconf.Parse("testdata/lvs-dr-master.conf", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range diags {
		fmt.Println(d)
	}
	for _, in := range cfg.Instances {
		fmt.Printf("%s: %s on %s, VRID %d, priority %d, VRRPv%d every %s, VIP %s\n",
			in.Name, in.State, in.Interface, in.VRID, in.Priority, in.Version, in.AdvertInt, in.VIPs[0].Prefix)
	}
	for _, vs := range cfg.VirtualServers {
		fmt.Printf("%s %s:%d %s/%s\n", vs.Protocol, vs.Addr, vs.Port, vs.Scheduler, vs.Method)
		for _, rs := range vs.RealServers {
			c := rs.Checkers[0]
			fmt.Printf("  %s:%d weight %d: %s %s every %s, timeout %s, %d retries %s apart\n",
				rs.Addr, rs.Port, rs.Weight, c.Type, c.HTTP.URLs[0].Path, c.DelayLoop, c.ConnectTimeout, c.Retry, c.DelayBeforeRetry)
		}
	}
	// Output:
	// testdata/lvs-dr-master.conf:3: warning: "notification_email" ignored: mail alerts are not sent
	// testdata/lvs-dr-master.conf:6: warning: "notification_email_from" ignored: mail alerts are not sent
	// testdata/lvs-dr-master.conf:7: warning: "smtp_server" ignored: mail alerts are not sent
	// testdata/lvs-dr-master.conf:8: warning: "smtp_connect_timeout" ignored: mail alerts are not sent
	// testdata/lvs-dr-master.conf:43: warning: nb_get_retry is deprecated; it is read as retry
	// testdata/lvs-dr-master.conf:55: warning: nb_get_retry is deprecated; it is read as retry
	// VI_1: MASTER on ens37, VRID 50, priority 100, VRRPv2 every 1s, VIP 10.0.0.100/24
	// TCP 10.0.0.100:80 wrr/DR
	//   192.168.234.47:80 weight 1: HTTP_GET / every 6s, timeout 3s, 3 retries 3s apart
	//   192.168.234.57:80 weight 2: HTTP_GET / every 6s, timeout 3s, 3 retries 3s apart
}

// Check is what the daemon's -t runs: diagnostics with file and line, and an
// error when the file cannot run as written.
func ExampleCheck() {
	diags, err := kaconf.Check("testdata/unsupported.conf", nil)
	for _, d := range diags.Errors()[:3] {
		fmt.Println(d)
	}
	fmt.Println(len(diags.Errors()), "errors; invalid:", err != nil)
	// Output:
	// testdata/unsupported.conf:8: error: unsupported keyword "vrrp_iptables" in global_defs
	// testdata/unsupported.conf:12: error: unsupported keyword "static_ipaddress" at top level
	// testdata/unsupported.conf:19: error: use_vmac: only an interface name is supported, not "vrrp1 02:00:5e:00:01:01"
	// 13 errors; invalid: true
}
