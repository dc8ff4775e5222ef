//go:build !unix

package daemon

import (
	"fmt"
	"runtime"

	"github.com/lvskit/lvskit/examples/keepalived/kaconf"
)

// checkScriptSecurity cannot check ownership where files have no Unix owner.
func checkScriptSecurity(conf *kaconf.Config) error {
	if !conf.Global.EnableScriptSecurity {
		return nil
	}
	return fmt.Errorf("%s: enable_script_security: checking script ownership is not supported on %s", conf.Global.Pos, runtime.GOOS)
}
