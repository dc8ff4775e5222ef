package metrics

import (
	"context"
	"io"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/ipvs/ipvstest"
	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestExportsRouterCheckerAndIPVS(t *testing.T) {
	m := New()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	net := vrrptest.NewNetwork(nil)
	became := make(chan struct{}, 1)
	r, err := vrrp.New(vrrp.Config{VRID: 7, AdvertInterval: 10 * time.Millisecond,
		VIPs: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}, Conn: net.Join(netip.MustParseAddr("10.0.0.1"), 7),
		OnEvent: func(e vrrp.Event) {
			m.Event("VI_1", e)
			if e.To == vrrp.StateMaster {
				became <- struct{}{}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	m.Router("VI_1", r)
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-became:
	case <-time.After(10 * time.Second):
		t.Fatal("router never became master")
	}

	table := ipvstest.New(nil)
	key := ipvs.ServiceKey{Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: ipvs.TCP}
	if err := table.CreateService(ipvs.Service{ServiceKey: key}); err != nil {
		t.Fatal(err)
	}
	if err := table.CreateDestination(key, ipvs.Destination{Address: netip.MustParseAddr("10.0.0.9"), Port: 80, Weight: 3}); err != nil {
		t.Fatal(err)
	}
	m.IPVS(table)

	c := health.NewChecker(nil)
	probed := make(chan struct{}, 1)
	c.Add(health.Target{ID: "web", Interval: time.Hour, Warmup: -1, Prober: health.ProberFunc(func(context.Context) health.Result {
		select {
		case probed <- struct{}{}:
		default:
		}
		return health.Result{Reason: "refused", Weight: health.NoWeight}
	})})
	m.Checker(c)
	go c.Run(ctx)
	<-probed
	// The failed probe is recorded once the Checker has processed it.
	deadline := time.Now().Add(10 * time.Second)
	var out string
	for {
		out = scrape(t, m)
		if strings.Contains(out, `lvskit_health_up{target="web"} 0`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, want := range []string{
		`lvskit_vrrp_state{instance="VI_1",state="Master"} 1`,
		`lvskit_vrrp_state{instance="VI_1",state="Backup"} 0`,
		`lvskit_vrrp_priority{instance="VI_1"} 100`,
		`lvskit_vrrp_transitions_total{instance="VI_1",to="Master"} 1`,
		`lvskit_vrrp_became_master_total{instance="VI_1"} 1`,
		`lvskit_vrrp_dropped_total{instance="VI_1",reason="` + vrrp.DropChecksum.String() + `"} 0`,
		`lvskit_health_up{target="web"} 0`,
		`lvskit_health_failures_total{target="web"} 1`,
		`lvskit_ipvs_destination_weight{destination="10.0.0.9:80",service="` + key.String() + `"} 3`,
		`go_goroutines`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
	cancel()
	<-done
}

func TestNilMetricsIgnoresEverything(t *testing.T) {
	var m *Metrics
	m.Router("x", nil)
	m.Event("x", vrrp.Event{Kind: vrrp.EventState})
	m.Checker(nil)
	m.IPVS(nil)
}
