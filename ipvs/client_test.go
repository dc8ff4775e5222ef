package ipvs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

const testFamily = 0x42

// fakeKernel answers the client's datagrams in process, the way the kernel does:
// one datagram per reply, an error message for each failed request, an
// acknowledgement only when asked, dumps ending in NLMSG_DONE.
type fakeKernel struct {
	t      *testing.T
	handle func(cmd uint8, flags uint16, attrs []byte) (replies [][]byte, errno syscall.Errno)
	queue  [][]byte
	sends  int
	reqs   []message
}

func (k *fakeKernel) send(b []byte) error {
	k.sends++
	msgs, err := splitMessages(append([]byte(nil), b...), nil)
	if err != nil {
		k.t.Fatalf("client sent a malformed datagram: %v", err)
	}
	for _, m := range msgs {
		k.reqs = append(k.reqs, m)
		if m.typ != testFamily || m.data[1] != familyVersion {
			k.t.Fatalf("request type %d version %d, want family %d version %d", m.typ, m.data[1], testFamily, familyVersion)
		}
		replies, errno := k.handle(m.data[0], m.flags, m.attrs())
		dump := m.flags&flagDump == flagDump
		for _, r := range replies {
			fl := uint16(0)
			if dump {
				fl = flagMulti
			}
			k.queue = append(k.queue, k.msg(testFamily, fl, m.seq, append([]byte{cmdNewService, familyVersion, 0, 0}, r...)))
		}
		switch {
		case errno == syscall.EINTR:
			// netlink_rcv_skb answers nothing for a handler that
			// returns -EINTR.
		case errno != 0 || (!dump && m.flags&flagAck != 0):
			var e [20]byte
			binary.NativeEndian.PutUint32(e[:], uint32(-int32(errno)))
			k.queue = append(k.queue, k.msg(nlmsgError, 0, m.seq, e[:]))
		case dump:
			k.queue = append(k.queue, k.msg(nlmsgDone, flagMulti, m.seq, []byte{0, 0, 0, 0}))
		}
	}
	return nil
}

func (k *fakeKernel) msg(typ, flags uint16, seq uint32, data []byte) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(data))
	binary.NativeEndian.PutUint32(b[0:], uint32(nlmsgHdrLen+len(data)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return append(b, data...)
}

func (k *fakeKernel) recv(b []byte) (int, error) {
	if len(k.queue) == 0 {
		k.t.Fatal("client waits for a reply that will never come")
	}
	d := k.queue[0]
	k.queue = k.queue[1:]
	return copy(b, d), nil
}

func (k *fakeKernel) close() error { return nil }

func newTestClient(t *testing.T, handle func(cmd uint8, flags uint16, attrs []byte) ([][]byte, syscall.Errno)) (*Client, *fakeKernel) {
	k := &fakeKernel{t: t, handle: handle}
	return newClient(k, testFamily, nil), k
}

// attrsOf decodes the request's attributes with mdlayher/netlink's own decoder,
// independently of this package's codec.
func attrsOf(t *testing.T, b []byte) map[uint16][]byte {
	t.Helper()
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint16][]byte{}
	for ad.Next() {
		out[ad.Type()] = ad.Bytes()
	}
	if err := ad.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEncodeServiceAsTheKernelParses(t *testing.T) {
	for _, tc := range []struct {
		name string
		svc  Service
		want map[uint16][]byte
	}{{
		name: "ipv4 persistent /24",
		svc:  Service{ServiceKey: ServiceKey{Address: netip.MustParseAddr("192.0.2.1"), Port: 443, Protocol: TCP}, Flags: FlagPersistent, Timeout: 600 * time.Second, Netmask: 24},
		want: map[uint16][]byte{
			svcAF: le16(2), svcProtocol: le16(6), svcAddr: {192, 0, 2, 1}, svcPort: {0x01, 0xbb},
			svcSchedName: []byte("wlc\x00"), svcFlags: append(le32(1), 0xff, 0xff, 0xff, 0xff),
			svcTimeout: le32(600), svcNetmask: {0xff, 0xff, 0xff, 0x00},
		},
	}, {
		name: "ipv6 sh with pe",
		svc:  Service{ServiceKey: ServiceKey{Address: netip.MustParseAddr("2001:db8::1"), Port: 5060, Protocol: UDP}, Scheduler: "sh", Flags: FlagSHPort | FlagSHFallback, Netmask: 64, PersistenceEngine: "sip"},
		want: map[uint16][]byte{
			svcAF: le16(10), svcProtocol: le16(17), svcAddr: netip.MustParseAddr("2001:db8::1").AsSlice(), svcPort: {0x13, 0xc4},
			svcSchedName: []byte("sh\x00"), svcPEName: []byte("sip\x00"), svcFlags: append(le32(0x18), 0xff, 0xff, 0xff, 0xff),
			svcTimeout: le32(0), svcNetmask: le32(64),
		},
	}, {
		name: "ipv6 firewall mark",
		svc:  Service{ServiceKey: ServiceKey{FirewallMark: 7, Family: IPv6}, Scheduler: "rr"},
		want: map[uint16][]byte{
			svcAF: le16(10), svcFwmark: le32(7), svcSchedName: []byte("rr\x00"),
			svcFlags: append(le32(0), 0xff, 0xff, 0xff, 0xff), svcTimeout: le32(0), svcNetmask: le32(128),
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var e encoder
			e.op(testFamily, Op{Kind: OpCreateService, Service: tc.svc}, flagRequest|flagAck, 9)
			var nm netlink.Message
			if err := nm.UnmarshalBinary(e.b); err != nil {
				t.Fatal(err)
			}
			var gm genetlink.Message
			if err := gm.UnmarshalBinary(nm.Data); err != nil {
				t.Fatal(err)
			}
			if nm.Header.Type != testFamily || nm.Header.Sequence != 9 || nm.Header.Flags != netlink.Request|netlink.Acknowledge || gm.Header.Command != cmdNewService || gm.Header.Version != 1 {
				t.Fatalf("headers %+v %+v", nm.Header, gm.Header)
			}
			top := attrsOf(t, gm.Data)
			got := attrsOf(t, top[attrService])
			if len(got) != len(tc.want) {
				t.Errorf("%d attributes, want %d: %v", len(got), len(tc.want), got)
			}
			for typ, w := range tc.want {
				if string(got[typ]) != string(w) {
					t.Errorf("attribute %d = % x, want % x", typ, got[typ], w)
				}
			}
		})
	}
}

func TestEncodeDestinationAsTheKernelParses(t *testing.T) {
	d := Destination{Address: netip.MustParseAddr("198.51.100.4"), Port: 80, Forwarding: Tunnel, Weight: 3,
		UpperThreshold: 100, LowerThreshold: 50, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: TunnelRemoteChecksum}
	var e encoder
	e.op(testFamily, Op{Kind: OpCreateDestination, Service: Service{ServiceKey: ServiceKey{FirewallMark: 3}}, Destination: d}, flagRequest, 1)
	top := attrsOf(t, e.b[nlmsgHdrLen+genlHdrLen:])
	if svc := attrsOf(t, top[attrService]); len(svc) != 2 || string(svc[svcFwmark]) != string(le32(3)) {
		t.Errorf("service key attributes %v, want only AF and FWMARK", svc)
	}
	got := attrsOf(t, top[attrDest])
	want := map[uint16][]byte{
		destAddr: {198, 51, 100, 4}, destPort: {0, 80}, destAddrFamily: le16(2), destFwdMethod: le32(2), destWeight: le32(3),
		destUThresh: le32(100), destLThresh: le32(50), destTunType: {1}, destTunPort: {0x17, 0xc0}, destTunFlags: le16(2),
	}
	for typ, w := range want {
		if string(got[typ]) != string(w) {
			t.Errorf("attribute %d = % x, want % x", typ, got[typ], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d attributes, want %d", len(got), len(want))
	}
}

func le16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func le32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// kernelService builds a service reply as ip_vs_genl_fill_service does, with
// mdlayher/netlink's encoder.
func kernelService(t *testing.T) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error {
		ae.Uint16(svcAF, 2)
		ae.Uint16(svcProtocol, 6)
		ae.Bytes(svcAddr, append([]byte{192, 0, 2, 1}, make([]byte, 12)...)) // union nf_inet_addr
		ae.Bytes(svcPort, []byte{0, 80})
		ae.String(svcSchedName, "wrr")
		ae.Bytes(svcFlags, append(le32(uint32(FlagPersistent|flagHashed)), 0xff, 0xff, 0xff, 0xff))
		ae.Uint32(svcTimeout, 300)
		ae.Bytes(svcNetmask, []byte{255, 255, 255, 255})
		ae.Nested(svcStats, func(ae *netlink.AttributeEncoder) error {
			ae.Uint32(statsConns, 1) // the 32-bit set must lose to STATS64
			return nil
		})
		ae.Nested(svcStats64, func(ae *netlink.AttributeEncoder) error {
			ae.Uint64(statsConns, 1<<40)
			ae.Uint64(statsInBytes, 12345)
			ae.Uint64(statsOutBPS, 99)
			return nil
		})
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeKernelReplies(t *testing.T) {
	c, _ := newTestClient(t, func(cmd uint8, _ uint16, _ []byte) ([][]byte, syscall.Errno) {
		switch cmd {
		case cmdGetService:
			return [][]byte{kernelService(t)}, 0
		case cmdGetDest:
			ae := netlink.NewAttributeEncoder()
			ae.Nested(attrDest, func(ae *netlink.AttributeEncoder) error {
				ae.Bytes(destAddr, netip.MustParseAddr("2001:db8::5").AsSlice())
				ae.Bytes(destPort, []byte{0x1f, 0x90})
				ae.Uint32(destFwdMethod, 3|0x100) // flags above the forwarding mask are ignored
				ae.Uint32(destWeight, 4)
				ae.Uint32(destActiveConns, 7)
				ae.Uint32(destInactConns, 8)
				ae.Uint32(destPersistConns, 9)
				ae.Uint16(destAddrFamily, 10)
				ae.Uint8(destTunType, 2)
				ae.Bytes(destTunPort, []byte{0, 0})
				ae.Uint16(destTunFlags, 1)
				return nil
			})
			b, _ := ae.Encode()
			return [][]byte{b}, 0
		}
		return nil, syscall.EINVAL
	})
	svcs, err := c.Services()
	if err != nil {
		t.Fatal(err)
	}
	want := Service{ServiceKey: ServiceKey{Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: TCP, Family: IPv4},
		Scheduler: "wrr", Flags: FlagPersistent, Timeout: 300 * time.Second, Stats: Stats{Connections: 1 << 40, BytesIn: 12345, BPSOut: 99}}
	if len(svcs) != 1 || svcs[0] != want {
		t.Fatalf("Services() = %+v, want %+v", svcs, want)
	}
	ds, err := c.Destinations(want.ServiceKey)
	if err != nil {
		t.Fatal(err)
	}
	wd := Destination{Address: netip.MustParseAddr("2001:db8::5"), Port: 8080, Forwarding: DirectRoute, Weight: 4,
		ActiveConns: 7, InactiveConns: 8, PersistentConns: 9, TunnelType: GRE, TunnelFlags: TunnelChecksum}
	if len(ds) != 1 || ds[0] != wd {
		t.Fatalf("Destinations() = %+v, want %+v", ds, wd)
	}
}

func TestEmptyTableIsEmptySlice(t *testing.T) {
	c, _ := newTestClient(t, func(uint8, uint16, []byte) ([][]byte, syscall.Errno) { return nil, 0 })
	svcs, err := c.Services()
	if err != nil || svcs == nil || len(svcs) != 0 {
		t.Fatalf("Services() = %#v, %v", svcs, err)
	}
}

func TestApplyPipelinesAndMapsErrors(t *testing.T) {
	svc := Service{ServiceKey: ServiceKey{Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: TCP}}
	var ops []Op
	for range 600 {
		ops = append(ops, Op{Kind: OpCreateService, Service: svc})
	}
	ops[10] = Op{Kind: OpDeleteDestination, Service: svc, Destination: Destination{Address: netip.MustParseAddr("198.51.100.1")}}
	ops[300] = Op{Kind: OpUpdateService, Service: svc}
	n := 0
	c, k := newTestClient(t, func(cmd uint8, _ uint16, _ []byte) ([][]byte, syscall.Errno) {
		n++
		switch n {
		case 1:
			return nil, syscall.EEXIST
		case 11:
			return nil, syscall.ENOENT
		case 301:
			return nil, syscall.ENOENT
		case 600:
			return nil, syscall.EPERM
		}
		return nil, 0
	})
	err := c.Apply(ops)
	var be *BatchError
	if !errors.As(err, &be) || len(be.Failed) != 4 {
		t.Fatalf("Apply: %v, want 4 failures", err)
	}
	for i, w := range []struct {
		index  int
		target error
	}{{0, ErrServiceExists}, {10, ErrDestinationNotFound}, {300, ErrUnknownScheduler}, {599, os.ErrPermission}} {
		f := be.Failed[i]
		if f.Index != w.index || !errors.Is(f.Err, w.target) {
			t.Errorf("failure %d: index %d err %v, want index %d %v", i, f.Index, f.Err, w.index, w.target)
		}
	}
	if !strings.Contains(be.Failed[3].Err.Error(), "CAP_NET_ADMIN") {
		t.Errorf("permission error %q does not name CAP_NET_ADMIN", be.Failed[3].Err)
	}
	// 600 requests in chunks of at most maxChunkOps, one acknowledgement each.
	if want := (600 + maxChunkOps - 1) / maxChunkOps; k.sends != want {
		t.Errorf("%d sendmsg calls, want %d", k.sends, want)
	}
	acks := 0
	for _, m := range k.reqs {
		if m.flags&flagAck != 0 {
			acks++
		}
	}
	if acks != k.sends {
		t.Errorf("%d requests asked for an acknowledgement, want one per chunk (%d)", acks, k.sends)
	}
}

func TestInvalidBatchSendsNothing(t *testing.T) {
	c, k := newTestClient(t, func(uint8, uint16, []byte) ([][]byte, syscall.Errno) { return nil, 0 })
	err := c.Apply([]Op{{Kind: OpCreateService, Service: Service{ServiceKey: ServiceKey{FirewallMark: 1}}},
		{Kind: OpCreateDestination, Service: Service{ServiceKey: ServiceKey{FirewallMark: 1}}, Destination: Destination{Address: netip.MustParseAddr("224.0.0.1")}}})
	if !errors.Is(err, ErrInvalid) || k.sends != 0 {
		t.Fatalf("Apply = %v after %d sends, want ErrInvalid and nothing sent", err, k.sends)
	}
}

func TestSingleOpErrorsAndNotFound(t *testing.T) {
	c, _ := newTestClient(t, func(cmd uint8, _ uint16, _ []byte) ([][]byte, syscall.Errno) {
		switch cmd {
		case cmdGetService, cmdZero, cmdSetService:
			return nil, syscall.ESRCH
		case cmdDelDaemon:
			return nil, syscall.ESRCH
		case cmdNewDest:
			return nil, syscall.EEXIST
		}
		return nil, 0
	})
	k := ServiceKey{Address: netip.MustParseAddr("192.0.2.1"), Port: 80, Protocol: TCP}
	if _, err := c.Service(k); !errors.Is(err, ErrServiceNotFound) || !errors.Is(err, syscall.ESRCH) {
		t.Errorf("Service: %v", err)
	}
	if err := c.ZeroService(k); !errors.Is(err, ErrServiceNotFound) {
		t.Errorf("ZeroService: %v", err)
	}
	if err := c.UpdateService(Service{ServiceKey: k}); !errors.Is(err, ErrServiceNotFound) {
		t.Errorf("UpdateService: %v", err)
	}
	if err := c.CreateDestination(k, Destination{Address: netip.MustParseAddr("198.51.100.1"), Port: 80}); !errors.Is(err, ErrDestinationExists) {
		t.Errorf("CreateDestination: %v", err)
	}
	if err := c.StopSyncDaemon(SyncBackup); !errors.Is(err, ErrSyncDaemonNotRunning) {
		t.Errorf("StopSyncDaemon: %v", err)
	}
}

func TestTimeoutsInfoDaemons(t *testing.T) {
	c, k := newTestClient(t, func(cmd uint8, _ uint16, attrs []byte) ([][]byte, syscall.Errno) {
		ae := netlink.NewAttributeEncoder()
		switch cmd {
		case cmdGetConfig:
			ae.Uint32(attrTimeoutTCP, 900)
			ae.Uint32(attrTimeoutTCPFin, 120)
			ae.Uint32(attrTimeoutUDP, 300)
		case cmdGetInfo:
			ae.Uint32(infoVersion, 0x010201)
			ae.Uint32(infoConnTabSize, 4096)
		case cmdGetDaemon:
			ae.Nested(attrDaemon, func(ae *netlink.AttributeEncoder) error {
				ae.Uint32(daemonState, 1)
				ae.String(daemonMcastIfn, "eth0")
				ae.Uint32(daemonSyncID, 5)
				ae.Uint16(daemonSyncMaxLen, 1472)
				ae.Uint16(daemonMcastPort, 8848)
				ae.Uint8(daemonMcastTTL, 1)
				ae.Bytes(daemonMcastGroup, []byte{224, 0, 0, 81})
				return nil
			})
		default:
			return nil, 0
		}
		b, _ := ae.Encode()
		return [][]byte{b}, 0
	})
	to, err := c.Timeouts()
	if err != nil || to != (Timeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second}) {
		t.Errorf("Timeouts() = %+v, %v", to, err)
	}
	in, err := c.Info()
	if err != nil || in.Version() != "1.2.1" || in.ConnTableSize != 4096 {
		t.Errorf("Info() = %+v, %v", in, err)
	}
	ds, err := c.SyncDaemons()
	want := SyncDaemon{State: SyncMaster, Interface: "eth0", SyncID: 5, MaxLen: 1472, Port: 8848, TTL: 1, Group: netip.MustParseAddr("224.0.0.81")}
	if err != nil || len(ds) != 1 || ds[0] != want {
		t.Errorf("SyncDaemons() = %+v, %v", ds, err)
	}
	// SetTimeouts sends only the non-zero timeouts.
	if err := c.SetTimeouts(Timeouts{UDP: 60 * time.Second}); err != nil {
		t.Fatal(err)
	}
	last := k.reqs[len(k.reqs)-1]
	if got := attrsOf(t, last.attrs()); len(got) != 1 || string(got[attrTimeoutUDP]) != string(le32(60)) {
		t.Errorf("SET_CONFIG attributes %v, want only UDP=60", got)
	}
	if err := c.StartSyncDaemon(SyncDaemon{State: SyncBackup, Interface: "eth0", Port: 9000}); err != nil {
		t.Fatal(err)
	}
	// The request, then the GET_DAEMON dump that fences it.
	if fence := k.reqs[len(k.reqs)-1]; fence.data[0] != cmdGetDaemon || fence.flags&flagDump == 0 {
		t.Errorf("NEW_DAEMON not followed by a GET_DAEMON dump: %+v", fence)
	}
	d := attrsOf(t, attrsOf(t, k.reqs[len(k.reqs)-2].attrs())[attrDaemon])
	if string(d[daemonMcastIfn]) != "eth0\x00" || string(d[daemonMcastPort]) != string(le16(9000)) || string(d[daemonState]) != string(le32(2)) {
		t.Errorf("NEW_DAEMON attributes %v", d)
	}
}

// TestSyncDaemonUnacknowledged: the kernel does not acknowledge a daemon
// command whose handler returns -EINTR (a daemon stopped before its thread
// first ran). The client must not wait for ever: the fencing dump tells
// whether the command took effect.
func TestSyncDaemonUnacknowledged(t *testing.T) {
	running := map[uint32]bool{}
	c, _ := newTestClient(t, func(cmd uint8, _ uint16, attrs []byte) ([][]byte, syscall.Errno) {
		switch cmd {
		case cmdNewDaemon:
			return nil, syscall.EINTR // and it does not start
		case cmdDelDaemon:
			d := attrsOf(t, attrsOf(t, attrs)[attrDaemon])
			delete(running, binary.NativeEndian.Uint32(d[daemonState]))
			return nil, syscall.EINTR
		case cmdGetDaemon:
			var out [][]byte
			for st := range running {
				ae := netlink.NewAttributeEncoder()
				ae.Nested(attrDaemon, func(ae *netlink.AttributeEncoder) error {
					ae.Uint32(daemonState, st)
					ae.String(daemonMcastIfn, "eth0")
					return nil
				})
				b, _ := ae.Encode()
				out = append(out, b)
			}
			return out, 0
		}
		t.Fatalf("unexpected command %d", cmd)
		return nil, 0
	})
	running[2] = true
	if err := c.StopSyncDaemon(SyncBackup); err != nil {
		t.Errorf("StopSyncDaemon, unacknowledged but done: %v", err)
	}
	if err := c.StartSyncDaemon(SyncDaemon{State: SyncMaster, Interface: "eth0"}); err == nil || !strings.Contains(err.Error(), "not acknowledged") {
		t.Errorf("StartSyncDaemon, unacknowledged and not done: %v", err)
	}
	// A later command still gets its own replies.
	running[1] = true
	if ds, err := c.SyncDaemons(); err != nil || len(ds) != 1 || ds[0].State != SyncMaster {
		t.Errorf("SyncDaemons() = %+v, %v", ds, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(kernelService(&testing.T{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		// Malformed replies must produce errors, never panics.
		decodeService(b)
		decodeDest(b, IPv4)
		decodeDaemon(b)
	})
}

// LookupServices sends its GET_SERVICE requests in chunks like Apply's, tells a
// missing service (ESRCH) from a present one and fails on any other error.
func TestLookupServicesBatches(t *testing.T) {
	n := 0
	c, k := newTestClient(t, func(cmd uint8, _ uint16, attrs []byte) ([][]byte, syscall.Errno) {
		if cmd != cmdGetService {
			t.Fatalf("command %d, want GET_SERVICE", cmd)
		}
		n++
		if n%3 == 0 {
			return nil, syscall.ESRCH
		}
		return [][]byte{kernelService(t)}, 0
	})
	keys := make([]ServiceKey, 600)
	for i := range keys {
		keys[i] = ServiceKey{Address: netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), Port: uint16(i), Protocol: TCP}
	}
	got, err := c.LookupServices(keys)
	if err != nil {
		t.Fatal(err)
	}
	if k.sends != 3 {
		t.Errorf("%d sendmsg calls for 600 lookups, want 3 (256 a chunk)", k.sends)
	}
	for i, s := range got {
		if missing := (i+1)%3 == 0; missing != (s == nil) {
			t.Fatalf("lookup %d: %v, want missing %v", i, s, missing)
		}
		if s != nil && s.Scheduler != "wrr" {
			t.Fatalf("lookup %d decoded %+v", i, s)
		}
	}
	if len(k.queue) != 0 {
		t.Errorf("%d replies left unread", len(k.queue))
	}

	c, _ = newTestClient(t, func(uint8, uint16, []byte) ([][]byte, syscall.Errno) { return nil, syscall.EPERM })
	if _, err := c.LookupServices(keys[:2]); !errors.Is(err, os.ErrPermission) {
		t.Errorf("LookupServices with EPERM = %v, want a permission error", err)
	}
	if _, err := c.LookupServices([]ServiceKey{{Port: 80}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("LookupServices of an invalid key = %v, want ErrInvalid", err)
	}
}
