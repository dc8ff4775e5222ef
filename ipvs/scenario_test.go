package ipvs_test

import (
	"testing"

	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/internal/scenario"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
)

func TestScenariosInMemory(t *testing.T) {
	scenario.Run(t, func(*testing.T) ipvs.Interface { return ipvstest.New(nil) },
		scenario.Options{Schedulers: ipvstest.Schedulers, SyncInterface: "lo"})
}
