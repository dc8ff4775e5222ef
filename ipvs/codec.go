package ipvs

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"syscall"
	"time"
)

// Generic netlink family "IPVS", version 1 (include/uapi/linux/ip_vs.h).
const (
	familyName    = "IPVS"
	familyVersion = 1
)

// IPVS_CMD_*.
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
	cmdGetInfo    = 15
	cmdZero       = 16
	cmdFlush      = 17
)

// IPVS_CMD_ATTR_*.
const (
	attrService       = 1
	attrDest          = 2
	attrDaemon        = 3
	attrTimeoutTCP    = 4
	attrTimeoutTCPFin = 5
	attrTimeoutUDP    = 6
)

// IPVS_SVC_ATTR_*.
const (
	svcAF        = 1
	svcProtocol  = 2
	svcAddr      = 3
	svcPort      = 4
	svcFwmark    = 5
	svcSchedName = 6
	svcFlags     = 7
	svcTimeout   = 8
	svcNetmask   = 9
	svcStats     = 10
	svcPEName    = 11
	svcStats64   = 12
)

// IPVS_DEST_ATTR_*.
const (
	destAddr         = 1
	destPort         = 2
	destFwdMethod    = 3
	destWeight       = 4
	destUThresh      = 5
	destLThresh      = 6
	destActiveConns  = 7
	destInactConns   = 8
	destPersistConns = 9
	destStats        = 10
	destAddrFamily   = 11
	destStats64      = 12
	destTunType      = 13
	destTunPort      = 14
	destTunFlags     = 15
)

// IPVS_DAEMON_ATTR_*.
const (
	daemonState      = 1
	daemonMcastIfn   = 2
	daemonSyncID     = 3
	daemonSyncMaxLen = 4
	daemonMcastGroup = 5
	daemonMcastGrp6  = 6
	daemonMcastPort  = 7
	daemonMcastTTL   = 8
)

// IPVS_STATS_ATTR_* (the 32-bit set uses u32 for all but the byte counters).
const (
	statsConns    = 1
	statsInPkts   = 2
	statsOutPkts  = 3
	statsInBytes  = 4
	statsOutBytes = 5
	statsCPS      = 6
	statsInPPS    = 7
	statsOutPPS   = 8
	statsInBPS    = 9
	statsOutBPS   = 10
)

// IPVS_INFO_ATTR_*.
const (
	infoVersion     = 1
	infoConnTabSize = 2
)

// Netlink header constants (linux/netlink.h); spelled out so the codec builds on
// every GOOS.
const (
	nlmsgHdrLen = 16
	genlHdrLen  = 4
	nlmsgError  = 2
	nlmsgDone   = 3
	flagRequest = 0x1
	flagMulti   = 0x2
	flagAck     = 0x4
	flagDump    = 0x300
	nlaTypeMask = 0x3fff
	nlaHdrLen   = 4
)

// encoder appends netlink messages to a reusable buffer. It writes the bytes the
// kernel parses directly instead of building attribute values first, so encoding a
// batch allocates only when the buffer grows.
type encoder struct {
	b []byte
}

func align4(n int) int { return (n + 3) &^ 3 }

func (e *encoder) reset() { e.b = e.b[:0] }

// begin starts a generic netlink message and returns its offset for end.
func (e *encoder) begin(family uint16, cmd uint8, flags uint16, seq uint32) int {
	start := len(e.b)
	var h [nlmsgHdrLen + genlHdrLen]byte
	binary.NativeEndian.PutUint16(h[4:], family)
	binary.NativeEndian.PutUint16(h[6:], flags)
	binary.NativeEndian.PutUint32(h[8:], seq)
	h[16] = cmd
	h[17] = familyVersion
	e.b = append(e.b, h[:]...)
	return start
}

func (e *encoder) end(start int) {
	binary.NativeEndian.PutUint32(e.b[start:], uint32(len(e.b)-start))
}

func (e *encoder) attr(typ uint16, v []byte) {
	var h [nlaHdrLen]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(nlaHdrLen+len(v)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	e.b = append(e.b, h[:]...)
	e.b = append(e.b, v...)
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) u8(typ uint16, v uint8) {
	b := [1]byte{v}
	e.attr(typ, b[:])
}

func (e *encoder) u16(typ uint16, v uint16) {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	e.attr(typ, b[:])
}

func (e *encoder) be16(typ uint16, v uint16) {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	e.attr(typ, b[:])
}

func (e *encoder) u32(typ uint16, v uint32) {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	e.attr(typ, b[:])
}

func (e *encoder) str(typ uint16, s string) {
	var h [nlaHdrLen]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(nlaHdrLen+len(s)+1))
	binary.NativeEndian.PutUint16(h[2:], typ)
	e.b = append(e.b, h[:]...)
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
	for len(e.b)%4 != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) addr(typ uint16, a netip.Addr) {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		e.attr(typ, b[:])
		return
	}
	b := a.As16()
	e.attr(typ, b[:])
}

func (e *encoder) nest(typ uint16) int {
	start := len(e.b)
	e.b = append(e.b, 0, 0, 0, 0)
	binary.NativeEndian.PutUint16(e.b[start+2:], typ)
	return start
}

func (e *encoder) endNest(start int) {
	binary.NativeEndian.PutUint16(e.b[start:], uint16(len(e.b)-start))
}

// service writes IPVS_CMD_ATTR_SERVICE: the identifying attributes, and with full
// the configuration that IPVS_CMD_NEW_SERVICE and IPVS_CMD_SET_SERVICE require.
func (e *encoder) service(s Service, full bool) {
	k := s.ServiceKey.Canonical()
	n := e.nest(attrService)
	e.u16(svcAF, uint16(k.Family))
	if k.FirewallMark != 0 {
		e.u32(svcFwmark, k.FirewallMark)
	} else {
		e.u16(svcProtocol, uint16(k.Protocol))
		e.addr(svcAddr, k.Address)
		e.be16(svcPort, k.Port)
	}
	if full {
		e.str(svcSchedName, s.scheduler())
		if s.PersistenceEngine != "" {
			e.str(svcPEName, s.PersistenceEngine)
		}
		// struct ip_vs_flags { flags, mask }: a full mask replaces every flag, so an
		// update clears the flags the caller no longer sets.
		var f [8]byte
		binary.NativeEndian.PutUint32(f[0:], uint32(s.Flags))
		binary.NativeEndian.PutUint32(f[4:], ^uint32(0))
		e.attr(svcFlags, f[:])
		e.u32(svcTimeout, uint32(s.Timeout/time.Second))
		e.netmask(k.Family, s.netmaskBits())
	}
	e.endNest(n)
}

// netmask writes IPVS_SVC_ATTR_NETMASK, which the kernel reads raw (nla_get_be32):
// for IPv4 it is the mask in network byte order, for IPv6 a prefix length in host
// byte order (ip_vs_add_service checks 1..128), as ipvsadm sends them.
func (e *encoder) netmask(f Family, bits int) {
	var b [4]byte
	if f == IPv6 {
		binary.NativeEndian.PutUint32(b[:], uint32(bits))
	} else {
		binary.BigEndian.PutUint32(b[:], ^uint32(0)<<(32-bits))
	}
	e.attr(svcNetmask, b[:])
}

func decodeNetmask(f Family, v []byte) int {
	if len(v) < 4 {
		return 0
	}
	if f == IPv6 {
		return int(binary.NativeEndian.Uint32(v))
	}
	m := binary.BigEndian.Uint32(v)
	bits := 0
	for m&0x80000000 != 0 {
		bits++
		m <<= 1
	}
	return bits
}

// dest writes IPVS_CMD_ATTR_DEST; full adds what NEW_DEST and SET_DEST require.
func (e *encoder) dest(d Destination, full bool) {
	n := e.nest(attrDest)
	e.addr(destAddr, d.Address)
	e.be16(destPort, d.Port)
	e.u16(destAddrFamily, uint16(d.family()))
	if full {
		e.u32(destFwdMethod, uint32(d.Forwarding))
		e.u32(destWeight, uint32(d.Weight))
		e.u32(destUThresh, d.UpperThreshold)
		e.u32(destLThresh, d.LowerThreshold)
		e.u8(destTunType, uint8(d.TunnelType))
		e.be16(destTunPort, d.TunnelPort)
		e.u16(destTunFlags, uint16(d.TunnelFlags))
	}
	e.endNest(n)
}

func (e *encoder) daemon(d SyncDaemon, full bool) {
	n := e.nest(attrDaemon)
	e.u32(daemonState, uint32(d.State))
	if full {
		e.str(daemonMcastIfn, d.Interface)
		e.u32(daemonSyncID, uint32(d.SyncID))
		if d.MaxLen != 0 {
			e.u16(daemonSyncMaxLen, d.MaxLen)
		}
		if d.Group.IsValid() {
			if g := d.Group.Unmap(); g.Is4() {
				e.addr(daemonMcastGroup, g)
			} else {
				e.addr(daemonMcastGrp6, g)
			}
		}
		if d.Port != 0 {
			e.u16(daemonMcastPort, d.Port) // host byte order, unlike service ports
		}
		if d.TTL != 0 {
			e.u8(daemonMcastTTL, d.TTL)
		}
	}
	e.endNest(n)
}

// encodeOp appends the request for op.
func (e *encoder) op(family uint16, op Op, flags uint16, seq uint32) {
	start := e.begin(family, op.Kind.cmd(), flags, seq)
	switch op.Kind {
	case OpCreateService, OpUpdateService:
		e.service(op.Service, true)
	case OpDeleteService:
		e.service(op.Service, false)
	case OpCreateDestination, OpUpdateDestination:
		e.service(op.Service, false)
		e.dest(op.Destination, true)
	case OpDeleteDestination:
		e.service(op.Service, false)
		e.dest(op.Destination, false)
	}
	e.end(start)
}

// message is one received netlink message.
type message struct {
	typ   uint16
	flags uint16
	seq   uint32
	data  []byte // after the netlink header
}

// splitMessages parses a datagram into its messages; the slices alias b.
func splitMessages(b []byte, out []message) ([]message, error) {
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return out, fmt.Errorf("ipvs: short netlink message (%d bytes)", len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return out, fmt.Errorf("ipvs: bad netlink message length %d", l)
		}
		out = append(out, message{
			typ:   binary.NativeEndian.Uint16(b[4:]),
			flags: binary.NativeEndian.Uint16(b[6:]),
			seq:   binary.NativeEndian.Uint32(b[8:]),
			data:  b[nlmsgHdrLen:l],
		})
		b = b[min(align4(l), len(b)):]
	}
	return out, nil
}

// errno returns the error number of an NLMSG_ERROR message (0 for an ack).
func (m message) errno() syscall.Errno {
	if len(m.data) < 4 {
		return syscall.EBADMSG
	}
	return syscall.Errno(-int32(binary.NativeEndian.Uint32(m.data)))
}

// attrs returns the attributes after the generic netlink header.
func (m message) attrs() []byte {
	if len(m.data) < genlHdrLen {
		return nil
	}
	return m.data[genlHdrLen:]
}

// eachAttr calls fn for every attribute in b; malformed trailing bytes end the walk
// with an error.
func eachAttr(b []byte, fn func(typ uint16, v []byte)) error {
	for len(b) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(b))
		if l < nlaHdrLen || l > len(b) {
			return fmt.Errorf("ipvs: malformed attribute (length %d of %d)", l, len(b))
		}
		fn(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[nlaHdrLen:l])
		b = b[min(align4(l), len(b)):]
	}
	return nil
}

func getU8(v []byte) uint8 {
	if len(v) < 1 {
		return 0
	}
	return v[0]
}

func getU16(v []byte) uint16 {
	if len(v) < 2 {
		return 0
	}
	return binary.NativeEndian.Uint16(v)
}

func getBE16(v []byte) uint16 {
	if len(v) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(v)
}

func getU32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(v)
}

func getU64(v []byte) uint64 {
	switch len(v) {
	case 4:
		return uint64(binary.NativeEndian.Uint32(v))
	case 8:
		return binary.NativeEndian.Uint64(v)
	}
	return 0
}

func getAddr(f Family, v []byte) netip.Addr {
	if f == IPv4 && len(v) >= 4 {
		return netip.AddrFrom4([4]byte(v[:4]))
	}
	if len(v) >= 16 {
		return netip.AddrFrom16([16]byte(v[:16]))
	}
	return netip.Addr{}
}

func decodeStats(v []byte) (Stats, error) {
	var s Stats
	err := eachAttr(v, func(typ uint16, v []byte) {
		x := getU64(v)
		switch typ {
		case statsConns:
			s.Connections = x
		case statsInPkts:
			s.PacketsIn = x
		case statsOutPkts:
			s.PacketsOut = x
		case statsInBytes:
			s.BytesIn = x
		case statsOutBytes:
			s.BytesOut = x
		case statsCPS:
			s.CPS = x
		case statsInPPS:
			s.PPSIn = x
		case statsOutPPS:
			s.PPSOut = x
		case statsInBPS:
			s.BPSIn = x
		case statsOutBPS:
			s.BPSOut = x
		}
	})
	return s, err
}

// nested finds the first attribute typ in b.
func nested(b []byte, typ uint16) ([]byte, error) {
	var out []byte
	err := eachAttr(b, func(t uint16, v []byte) {
		if t == typ && out == nil {
			out = v
		}
	})
	if err == nil && out == nil {
		err = fmt.Errorf("ipvs: reply lacks attribute %d", typ)
	}
	return out, err
}

func decodeService(b []byte) (Service, error) {
	nb, err := nested(b, attrService)
	if err != nil {
		return Service{}, err
	}
	var s Service
	var addr, netmask, stats, stats64 []byte
	err = eachAttr(nb, func(typ uint16, v []byte) {
		switch typ {
		case svcAF:
			s.Family = Family(getU16(v))
		case svcProtocol:
			s.Protocol = Protocol(getU16(v))
		case svcAddr:
			addr = v
		case svcPort:
			s.Port = getBE16(v)
		case svcFwmark:
			s.FirewallMark = getU32(v)
		case svcSchedName:
			s.Scheduler = cString(v)
		case svcPEName:
			s.PersistenceEngine = cString(v)
		case svcFlags:
			s.Flags = ServiceFlags(getU32(v)) &^ flagHashed
		case svcTimeout:
			s.Timeout = time.Duration(getU32(v)) * time.Second
		case svcNetmask:
			netmask = v
		case svcStats:
			stats = v
		case svcStats64:
			stats64 = v
		}
	})
	if err != nil {
		return Service{}, err
	}
	if s.Family != IPv4 && s.Family != IPv6 {
		return Service{}, fmt.Errorf("ipvs: service with unknown family %d", s.Family)
	}
	if s.FirewallMark == 0 {
		s.Address = getAddr(s.Family, addr)
	} else {
		s.Protocol = 0 // the kernel stores TCP for firewall-mark services but never reports it
	}
	s.Netmask = decodeNetmask(s.Family, netmask)
	if s.Netmask == s.netmaskBitsFull() {
		s.Netmask = 0 // the default, as Service documents
	}
	if stats64 == nil {
		stats64 = stats
	}
	s.Stats, err = decodeStats(stats64)
	return s, err
}

func decodeDest(b []byte, svcFamily Family) (Destination, error) {
	nb, err := nested(b, attrDest)
	if err != nil {
		return Destination{}, err
	}
	var d Destination
	f := svcFamily
	var addr, stats, stats64 []byte
	err = eachAttr(nb, func(typ uint16, v []byte) {
		switch typ {
		case destAddr:
			addr = v
		case destPort:
			d.Port = getBE16(v)
		case destFwdMethod:
			d.Forwarding = Forwarding(getU32(v) & 0x7)
		case destWeight:
			d.Weight = int(int32(getU32(v)))
		case destUThresh:
			d.UpperThreshold = getU32(v)
		case destLThresh:
			d.LowerThreshold = getU32(v)
		case destActiveConns:
			d.ActiveConns = getU32(v)
		case destInactConns:
			d.InactiveConns = getU32(v)
		case destPersistConns:
			d.PersistentConns = getU32(v)
		case destAddrFamily:
			f = Family(getU16(v))
		case destTunType:
			d.TunnelType = TunnelType(getU8(v))
		case destTunPort:
			d.TunnelPort = getBE16(v)
		case destTunFlags:
			d.TunnelFlags = TunnelFlags(getU16(v))
		case destStats:
			stats = v
		case destStats64:
			stats64 = v
		}
	})
	if err != nil {
		return Destination{}, err
	}
	d.Address = getAddr(f, addr)
	if stats64 == nil {
		stats64 = stats
	}
	d.Stats, err = decodeStats(stats64)
	return d, err
}

func decodeDaemon(b []byte) (SyncDaemon, error) {
	nb, err := nested(b, attrDaemon)
	if err != nil {
		return SyncDaemon{}, err
	}
	var d SyncDaemon
	err = eachAttr(nb, func(typ uint16, v []byte) {
		switch typ {
		case daemonState:
			d.State = SyncState(getU32(v))
		case daemonMcastIfn:
			d.Interface = cString(v)
		case daemonSyncID:
			d.SyncID = uint8(getU32(v))
		case daemonSyncMaxLen:
			d.MaxLen = getU16(v)
		case daemonMcastGroup:
			d.Group = getAddr(IPv4, v)
		case daemonMcastGrp6:
			d.Group = getAddr(IPv6, v)
		case daemonMcastPort:
			d.Port = getU16(v)
		case daemonMcastTTL:
			d.TTL = getU8(v)
		}
	})
	return d, err
}

func cString(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}
