// Command demo runs three VRRP routers on lvskit's in-memory network and prints
// a timeline: election, the master crashing, a backup taking over, the old master
// returning and preempting, a network partition making two masters, and the heal
// leaving one. It needs no privileges and takes a few seconds.
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lvskit/lvskit/vrrp"
	"github.com/lvskit/lvskit/vrrp/vrrptest"
)

const interval = 100 * time.Millisecond

var vip = netip.MustParsePrefix("192.0.2.100/32")

type router struct {
	name string
	addr netip.Addr
	prio uint8
	r    *vrrp.Router
	done chan struct{}
}

type demo struct {
	net     *vrrptest.Network
	start   time.Time
	mu      sync.Mutex // orders printing between routers' event goroutines
	routers []*router
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Printf("%8.3fs  %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) run(rt *router) {
	cfg := vrrp.Config{
		VRID: 51, Priority: rt.prio, AdvertInterval: interval, VIPs: []netip.Prefix{vip},
		Conn: d.net.Join(rt.addr, 51),
		OnEvent: func(e vrrp.Event) {
			if e.Kind == vrrp.EventState {
				d.say("    %-3s %-6v -> %-6v  %s", rt.name, e.From, e.To, e.Reason)
			} else if e.Kind == vrrp.EventConflict {
				d.say("    %-3s %s", rt.name, e.Reason)
			}
		},
	}
	r, err := vrrp.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rt.r, rt.done = r, make(chan struct{})
	go func() {
		defer close(rt.done)
		if err := r.Run(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
}

func (d *demo) masters() []string {
	var names []string
	for _, rt := range d.routers {
		if rt.r.State() == vrrp.StateMaster {
			names = append(names, rt.name)
		}
	}
	return names
}

// waitFor polls until the masters are exactly want, and returns how long it took.
func (d *demo) waitFor(want ...string) time.Duration {
	began := time.Now()
	for time.Since(began) < 10*time.Second {
		if slices.Equal(d.masters(), want) {
			return time.Since(began)
		}
		time.Sleep(time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "demo: masters are %v, expected %v\n", d.masters(), want)
	os.Exit(1)
	return 0
}

func mdi(prio uint8) time.Duration {
	return 3*interval + time.Duration(256-int(prio))*interval/256
}

func main() {
	d := &demo{net: vrrptest.NewNetwork(nil), start: time.Now()}
	a := &router{name: "A", addr: netip.MustParseAddr("10.0.0.1"), prio: 200}
	b := &router{name: "B", addr: netip.MustParseAddr("10.0.0.2"), prio: 100}
	c := &router{name: "C", addr: netip.MustParseAddr("10.0.0.3"), prio: 50}
	d.routers = []*router{a, b, c}

	fmt.Printf("Three VRRPv3 routers share VIP %v (VRID 51, adverts every %v): A priority 200, B 100, C 50.\n\n", vip, interval)
	d.say("== election")
	for _, rt := range d.routers {
		d.run(rt)
	}
	d.waitFor("A")
	d.say("A is master")

	d.say("== A crashes (cut off the network first, so its goodbye advert is lost)")
	killed := time.Now()
	d.net.Disconnect(a.addr)
	a.r.Close()
	<-a.done
	d.waitFor("B")
	d.say("B took over %v after the crash (its Master_Down_Interval is %v; the last advert came up to one interval before the crash)",
		time.Since(killed).Round(time.Millisecond), mdi(b.prio).Round(100*time.Microsecond))

	d.say("== A comes back and preempts")
	d.net.Reconnect(a.addr)
	d.run(a)
	took := d.waitFor("A")
	d.say("A preempted after %v (it waits its own Master_Down_Interval, %v, discarding B's lower-priority adverts)",
		took.Round(time.Millisecond), mdi(a.prio).Round(100*time.Microsecond))

	d.say("== the network splits: A | B C")
	d.net.Partition([]netip.Addr{a.addr}, []netip.Addr{b.addr, c.addr})
	d.waitFor("A", "B")
	d.say("two masters: %s (each side elected one)", strings.Join(d.masters(), " and "))

	d.say("== the network heals")
	d.net.Heal()
	took = d.waitFor("A")
	d.say("one master again after %v: B yielded to A's advert, and its farewell advert made A re-announce the VIP", took.Round(time.Millisecond))

	d.composed()

	d.say("== shutting down")
	for _, rt := range d.routers {
		rt.r.Close()
		<-rt.done
	}
	d.say("done")
}
