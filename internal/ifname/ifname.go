// Package ifname checks network interface names the way Linux does, so that a
// bad name is rejected before anything touches the kernel.
package ifname

import (
	"fmt"
	"strings"
)

// Check returns an error saying why name cannot be a Linux interface name: the
// kernel (dev_valid_name) wants 1 to 15 bytes, none of them '/', ':' or white
// space, and not "." or "..".
func Check(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 bytes", name)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.ContainsAny(name, "/: \t\n\r\v\f"):
		return fmt.Errorf("interface name %q contains '/', ':' or white space", name)
	}
	return nil
}
