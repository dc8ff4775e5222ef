package ifname

import "testing"

func TestCheck(t *testing.T) {
	for _, ok := range []string{"eth0", "vrrp.51", "a", "br-0123456789ab"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "eth0:1", "a/b", "a b", "tab\t", "sixteen-bytes-xx"} {
		if err := Check(bad); err == nil {
			t.Errorf("Check(%q) = nil, want an error", bad)
		}
	}
}
