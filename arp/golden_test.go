package arp_test

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/lvskit/lvskit/arp"
	"github.com/lvskit/lvskit/internal/testenv"
)

var (
	mac  = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}
	vip4 = netip.MustParseAddr("10.99.2.100")
	vip6 = netip.MustParseAddr("fd00:99:2::100")
	ll   = netip.MustParseAddr("fe80::1")
)

const (
	goldenRequest = "ffffffffffff" + "020000000001" + "0806" +
		"0001" + "0800" + "06" + "04" + "0001" +
		"020000000001" + "0a630264" + "000000000000" + "0a630264"
	goldenReply = "ffffffffffff" + "020000000001" + "0806" +
		"0001" + "0800" + "06" + "04" + "0002" +
		"020000000001" + "0a630264" + "020000000001" + "0a630264"
	goldenNA = "333300000001" + "020000000001" + "86dd" +
		"60000000" + "0020" + "3a" + "ff" +
		"fe800000000000000000000000000001" +
		"ff020000000000000000000000000001" +
		"88" + "00" + "CKSM" + "20000000" +
		"fd000099000200000000000000000100" +
		"0201" + "020000000001"
	goldenNARouter = "333300000001" + "020000000001" + "86dd" +
		"60000000" + "0020" + "3a" + "ff" +
		"fe800000000000000000000000000001" +
		"ff020000000000000000000000000001" +
		"88" + "00" + "CKSM" + "a0000000" +
		"fd000099000200000000000000000100" +
		"0201" + "020000000001"
)

func marshal(t *testing.T, m interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenARP(t *testing.T) {
	for _, tc := range []struct {
		op   arp.Operation
		want string
	}{{arp.OpRequest, goldenRequest}, {arp.OpReply, goldenReply}} {
		p := arp.GratuitousARP(tc.op, mac, vip4)
		if got := hex.EncodeToString(marshal(t, &p)); got != tc.want {
			t.Errorf("%v:\n got %s\nwant %s", tc.op, got, tc.want)
		}
	}
}

// The checksum in the golden NA frames is not typed in: it is whatever makes the
// frame verify, and tshark checks that independently in TestTsharkDecodes.
func TestGoldenNA(t *testing.T) {
	for _, tc := range []struct {
		router bool
		want   string
	}{{false, goldenNA}, {true, goldenNARouter}} {
		na := arp.UnsolicitedNA(mac, ll, vip6, tc.router)
		got := hex.EncodeToString(marshal(t, &na))
		want := strings.Replace(tc.want, "CKSM", got[2*(14+40+2):2*(14+40+4)], 1)
		if got != want {
			t.Errorf("router=%v:\n got %s\nwant %s", tc.router, got, want)
		}
		var back arp.NeighborAdvertisement
		if err := back.UnmarshalBinary(marshal(t, &na)); err != nil {
			t.Fatalf("decoding our own NA: %v", err)
		}
		if !reflect.DeepEqual(back, na) {
			t.Fatalf("round trip: %+v, want %+v", back, na)
		}
	}
}

// TestTsharkDecodes writes the frames to a pcap file and has tshark decode them:
// an independent check of the layout and of the ICMPv6 checksum.
func TestTsharkDecodes(t *testing.T) {
	testenv.RequireCommands(t, "tshark")
	req := arp.GratuitousARP(arp.OpRequest, mac, vip4)
	rep := arp.GratuitousARP(arp.OpReply, mac, vip4)
	na := arp.UnsolicitedNA(mac, ll, vip6, true)
	path := filepath.Join(t.TempDir(), "frames.pcap")
	writePcap(t, path, marshal(t, &req), marshal(t, &rep), marshal(t, &na))

	out, err := exec.Command("tshark", "-r", path, "-T", "fields", "-E", "separator=|",
		"-e", "arp.opcode", "-e", "arp.isgratuitous", "-e", "arp.src.proto_ipv4", "-e", "arp.dst.proto_ipv4",
		"-e", "icmpv6.type", "-e", "icmpv6.checksum.status", "-e", "icmpv6.nd.na.flag.r",
		"-e", "icmpv6.nd.na.flag.s", "-e", "icmpv6.nd.na.flag.o", "-e", "icmpv6.nd.na.target_address",
		"-e", "icmpv6.opt.linkaddr", "-e", "ipv6.hlim", "-e", "ipv6.dst").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("tshark: %v: %s", err, ee.Stderr)
		}
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{
		"1|1|10.99.2.100|10.99.2.100|||||||||",
		"2|1|10.99.2.100|10.99.2.100|||||||||",
		"||||136|1|1|0|1|fd00:99:2::100|02:00:00:00:00:01|255|ff02::1",
	}
	if len(lines) != len(want) {
		t.Fatalf("tshark decoded %d frames:\n%s", len(lines), out)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("frame %d: tshark says\n%s\nwant\n%s", i, lines[i], want[i])
		}
	}
}

func writePcap(t *testing.T, path string, frames ...[]byte) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 65535)
	b = binary.LittleEndian.AppendUint32(b, 1) // Ethernet
	for i, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(i))
		b = binary.LittleEndian.AppendUint32(b, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMalformed(t *testing.T) {
	req, _ := hex.DecodeString(goldenRequest)
	na := arp.UnsolicitedNA(mac, ll, vip6, false)
	nab := marshal(t, &na)
	mod := func(b []byte, i int, v byte) []byte {
		c := append([]byte(nil), b...)
		c[i] = v
		return c
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, arp.ErrTruncated},
		{"short ARP", req[:41], arp.ErrTruncated},
		{"IPv6 ethertype", mod(req, 12, 0x86), arp.ErrNotARP},
		{"token ring hardware", mod(req, 15, 6), arp.ErrNotARP},
		{"hardware length 8", mod(req, 18, 8), arp.ErrNotARP},
	} {
		var p arp.Packet
		if err := p.UnmarshalBinary(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("ARP %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, arp.ErrTruncated},
		{"payload cut", nab[:len(nab)-1], arp.ErrTruncated},
		{"ARP frame", req, arp.ErrTruncated},
		{"version 4", mod(nab, 14, 0x40), arp.ErrNotNA},
		{"UDP", mod(nab, 20, 17), arp.ErrNotNA},
		{"neighbour solicitation", mod(nab, 54, 135), arp.ErrNotNA},
		{"bad checksum", mod(nab, 56, nab[56]^0xff), arp.ErrChecksum},
		{"flipped flag", mod(nab, 58, 0x60), arp.ErrChecksum},
	} {
		var p arp.NeighborAdvertisement
		if err := p.UnmarshalBinary(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("NA %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Options: a zero-length option loops forever in naive parsers.
	zero := arp.UnsolicitedNA(mac, ll, vip6, false)
	zero.TargetHW = nil
	b := append(marshal(t, &zero), 1, 0, 0, 0, 0, 0, 0, 0)
	b[14+5] += 8 // payload length
	fixChecksum(b)
	var p arp.NeighborAdvertisement
	if err := p.UnmarshalBinary(b); !errors.Is(err, arp.ErrOption) {
		t.Errorf("zero-length option: %v, want ErrOption", err)
	}
	// Marshal rejects what it cannot encode.
	bad := arp.GratuitousARP(arp.OpRequest, mac, vip6)
	if _, err := bad.MarshalBinary(); !errors.Is(err, arp.ErrAddress) {
		t.Errorf("ARP for an IPv6 address: %v, want ErrAddress", err)
	}
	badNA := arp.UnsolicitedNA(mac[:4], ll, vip6, false)
	if _, err := badNA.MarshalBinary(); !errors.Is(err, arp.ErrAddress) {
		t.Errorf("NA with a 4-byte MAC: %v, want ErrAddress", err)
	}
}

// fixChecksum recomputes the ICMPv6 checksum of a frame made by hand.
func fixChecksum(b []byte) {
	ip := b[14:]
	icmp := ip[40:]
	icmp[2], icmp[3] = 0, 0
	var sum uint32
	for _, part := range [][]byte{ip[8:40], icmp} {
		for i := 0; i+1 < len(part); i += 2 {
			sum += uint32(part[i])<<8 | uint32(part[i+1])
		}
	}
	sum += uint32(len(icmp)) + 58
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(icmp[2:], ^uint16(sum))
}
