// Package metrics exports what the example programs run — VRRP Routers, a health
// Checker and an IPVS table — as Prometheus metrics over HTTP.
//
// The library packages know nothing of Prometheus: everything here is read through
// their public API when Prometheus scrapes (Router.State and Stats,
// Checker.Snapshot, ipvs.Interface.Services and Destinations), plus a counter of
// the events each Router reported. That keeps the Prometheus client out of the
// library's import graph, and costs nothing between scrapes.
//
// # Metrics
//
//	lvskit_vrrp_state{instance,state}                 1 for the current state
//	lvskit_vrrp_priority{instance}                    effective priority
//	lvskit_vrrp_transitions_total{instance,to}        state changes, by new state
//	lvskit_vrrp_adverts_sent_total{instance}
//	lvskit_vrrp_adverts_received_total{instance}
//	lvskit_vrrp_dropped_total{instance,reason}        dropped packets, by DropReason
//	lvskit_vrrp_became_master_total{instance}
//	lvskit_health_up{target}                          1 while the target is up
//	lvskit_health_probes_total{target}
//	lvskit_health_failures_total{target}
//	lvskit_ipvs_service_connections_total{service}
//	lvskit_ipvs_destination_weight{service,destination}
//	lvskit_ipvs_destination_active_connections{service,destination}
//	lvskit_ipvs_destination_connections_total{service,destination}
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/lvskit/lvskit/health"
	"github.com/lvskit/lvskit/ipvs"
	"github.com/lvskit/lvskit/vrrp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics collects the sources registered with it. The zero value is not usable;
// call New. A nil *Metrics ignores everything, so code can run without metrics.
type Metrics struct {
	reg         *prometheus.Registry
	transitions *prometheus.CounterVec

	mu       sync.Mutex
	routers  map[string]*vrrp.Router
	checkers []*health.Checker
	tables   []ipvs.Interface
}

// New returns an empty Metrics with its own registry (Go runtime and process
// metrics included).
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lvskit_vrrp_transitions_total", Help: "VRRP state changes, by the state entered.",
		}, []string{"instance", "to"}),
		routers: map[string]*vrrp.Router{},
	}
	m.reg.MustRegister(m.transitions, collector{m},
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

// Router exports r's state and counters under the instance name.
func (m *Metrics) Router(instance string, r *vrrp.Router) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.routers[instance] = r
}

// Event counts a Router's event (call it from OnEvent).
func (m *Metrics) Event(instance string, e vrrp.Event) {
	if m == nil || e.Kind != vrrp.EventState {
		return
	}
	m.transitions.WithLabelValues(instance, e.To.String()).Inc()
}

// Checker exports every target of c.
func (m *Metrics) Checker(c *health.Checker) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.checkers = append(m.checkers, c)
}

// IPVS exports the services and destinations of t (the kernel's table through an
// *ipvs.Client, or an *ipvstest.Table).
func (m *Metrics) IPVS(t ipvs.Interface) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tables = append(m.tables, t)
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Serve listens on addr and serves /metrics until ctx ends. It returns once the
// listener is open, so a bad address is an error at startup.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	log.Info("serving Prometheus metrics", "addr", ln.Addr().String(), "path", "/metrics")
	return nil
}

var (
	descState      = prometheus.NewDesc("lvskit_vrrp_state", "1 for the VRRP instance's current state.", []string{"instance", "state"}, nil)
	descPriority   = prometheus.NewDesc("lvskit_vrrp_priority", "Effective VRRP priority (trackers applied).", []string{"instance"}, nil)
	descSent       = prometheus.NewDesc("lvskit_vrrp_adverts_sent_total", "VRRP advertisements sent.", []string{"instance"}, nil)
	descReceived   = prometheus.NewDesc("lvskit_vrrp_adverts_received_total", "Valid VRRP advertisements received.", []string{"instance"}, nil)
	descDropped    = prometheus.NewDesc("lvskit_vrrp_dropped_total", "Received VRRP packets dropped, by reason.", []string{"instance", "reason"}, nil)
	descMaster     = prometheus.NewDesc("lvskit_vrrp_became_master_total", "Times the instance became master.", []string{"instance"}, nil)
	descUp         = prometheus.NewDesc("lvskit_health_up", "1 while the health-check target is up.", []string{"target"}, nil)
	descProbes     = prometheus.NewDesc("lvskit_health_probes_total", "Completed probes.", []string{"target"}, nil)
	descFailures   = prometheus.NewDesc("lvskit_health_failures_total", "Failed probes.", []string{"target"}, nil)
	descSvcConns   = prometheus.NewDesc("lvskit_ipvs_service_connections_total", "Connections scheduled by the IPVS service.", []string{"service"}, nil)
	descDstWeight  = prometheus.NewDesc("lvskit_ipvs_destination_weight", "IPVS destination weight (0: drained).", []string{"service", "destination"}, nil)
	descDstActive  = prometheus.NewDesc("lvskit_ipvs_destination_active_connections", "Active connections of the IPVS destination.", []string{"service", "destination"}, nil)
	descDstConns   = prometheus.NewDesc("lvskit_ipvs_destination_connections_total", "Connections scheduled to the IPVS destination.", []string{"service", "destination"}, nil)
	allStates      = []vrrp.State{vrrp.StateInit, vrrp.StateBackup, vrrp.StateMaster, vrrp.StateFault}
	allDropReasons = []vrrp.DropReason{vrrp.DropHopLimit, vrrp.DropMalformed, vrrp.DropChecksum, vrrp.DropVersion,
		vrrp.DropVRID, vrrp.DropAuth, vrrp.DropInterval, vrrp.DropAddressList, vrrp.DropUnknownPeer}
)

// collector reads the registered sources at scrape time.
type collector struct{ m *Metrics }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descState, descPriority, descSent, descReceived, descDropped, descMaster,
		descUp, descProbes, descFailures, descSvcConns, descDstWeight, descDstActive, descDstConns} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	routers := make(map[string]*vrrp.Router, len(c.m.routers))
	for k, v := range c.m.routers {
		routers[k] = v
	}
	checkers := append([]*health.Checker(nil), c.m.checkers...)
	tables := append([]ipvs.Interface(nil), c.m.tables...)
	c.m.mu.Unlock()

	for name, r := range routers {
		cur := r.State()
		for _, s := range allStates {
			v := 0.0
			if s == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, v, name, s.String())
		}
		st := r.Stats()
		ch <- prometheus.MustNewConstMetric(descPriority, prometheus.GaugeValue, float64(r.Priority()), name)
		ch <- prometheus.MustNewConstMetric(descSent, prometheus.CounterValue, float64(st.AdvertsSent), name)
		ch <- prometheus.MustNewConstMetric(descReceived, prometheus.CounterValue, float64(st.AdvertsReceived), name)
		ch <- prometheus.MustNewConstMetric(descMaster, prometheus.CounterValue, float64(st.BecameMaster), name)
		for _, d := range allDropReasons {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(st.Drops[d]), name, d.String())
		}
	}
	for _, ck := range checkers {
		for _, s := range ck.Snapshot() {
			up := 0.0
			if s.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, s.ID)
			ch <- prometheus.MustNewConstMetric(descProbes, prometheus.CounterValue, float64(s.Probes), s.ID)
			ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(s.Failures), s.ID)
		}
	}
	for _, t := range tables {
		svcs, err := t.Services()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(descSvcConns, err)
			continue
		}
		for _, s := range svcs {
			key := s.Key().String()
			ch <- prometheus.MustNewConstMetric(descSvcConns, prometheus.CounterValue, float64(s.Stats.Connections), key)
			dsts, err := t.Destinations(s.Key())
			if err != nil {
				ch <- prometheus.NewInvalidMetric(descDstWeight, err)
				continue
			}
			for _, d := range dsts {
				dst := d.AddrPort().String()
				ch <- prometheus.MustNewConstMetric(descDstWeight, prometheus.GaugeValue, float64(d.Weight), key, dst)
				ch <- prometheus.MustNewConstMetric(descDstActive, prometheus.GaugeValue, float64(d.ActiveConns), key, dst)
				ch <- prometheus.MustNewConstMetric(descDstConns, prometheus.CounterValue, float64(d.Stats.Connections), key, dst)
			}
		}
	}
}
