package vrrp_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvskit/lvskit/internal/testenv"
	"github.com/lvskit/lvskit/vrrp"
)

var (
	groupV4 = netip.MustParseAddr("224.0.0.18")
	groupV6 = netip.MustParseAddr("ff02::12")
)

// goldenAdverts are hand-assembled from the layouts of RFC 3768 section 5.1 and
// RFC 5798 section 5.1; the checksums were computed by an independent script and
// TestGoldenTshark has Wireshark's dissector confirm them.
var goldenAdverts = []struct {
	name string
	adv  vrrp.Advertisement
	hex  string
}{
	{
		name: "v2",
		adv: vrrp.Advertisement{
			Version: vrrp.V2, VRID: 51, Priority: 100, Interval: time.Second,
			Addresses: []netip.Addr{netip.MustParseAddr("192.168.1.10")},
			Src:       netip.MustParseAddr("192.168.1.2"), Dst: groupV4,
		},
		hex: "21" + // version 2, type 1
			"33" + "64" + "01" + // VRID 51, priority 100, 1 address
			"00" + "01" + // no authentication, 1 s
			"b917" + // checksum over the message
			"c0a8010a" + // 192.168.1.10
			"0000000000000000", // authentication data
	},
	{
		name: "v2-pass",
		adv: vrrp.Advertisement{
			Version: vrrp.V2, VRID: 51, Priority: 100, Interval: time.Second,
			AuthType: vrrp.AuthSimple, AuthData: vrrp.PasswordAuth("secret"),
			Addresses: []netip.Addr{netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("192.168.1.11")},
			Src:       netip.MustParseAddr("192.168.1.2"), Dst: groupV4,
		},
		hex: "21" + "33" + "64" + "02" +
			"01" + "01" + // simple text password, 1 s
			"ba16" +
			"c0a8010a" + "c0a8010b" +
			"7365637265740000", // "secret", zero-padded
	},
	{
		name: "v3v4",
		adv: vrrp.Advertisement{
			Version: vrrp.V3, VRID: 7, Priority: 200, Interval: time.Second,
			Addresses: []netip.Addr{netip.MustParseAddr("10.99.0.100")},
			Src:       netip.MustParseAddr("10.99.0.1"), Dst: groupV4,
		},
		hex: "31" + "07" + "c8" + "01" +
			"0064" + // reserved 0, max adver int 100 cs
			"10d9" + // checksum over the IPv4 pseudo-header and the message
			"0a630064",
	},
	{
		name: "v3v6",
		adv: vrrp.Advertisement{
			Version: vrrp.V3, VRID: 7, Priority: 200, Interval: time.Second,
			Addresses: []netip.Addr{netip.MustParseAddr("fd00:99::100"), netip.MustParseAddr("fd00:99::101")},
			Src:       netip.MustParseAddr("fe80::1"), Dst: groupV6,
		},
		hex: "31" + "07" + "c8" + "02" + "0064" +
			"0b2e" + // checksum over the IPv6 pseudo-header and the message
			"fd000099000000000000000000000100" + "fd000099000000000000000000000101",
	},
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenAdverts {
		t.Run(tc.name, func(t *testing.T) {
			want := mustHex(t, tc.hex)
			got, err := tc.adv.MarshalBinary()
			if err != nil {
				t.Fatalf("MarshalBinary: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("MarshalBinary\n got %x\nwant %x", got, want)
			}
			prefix := []byte("prefix")
			got, err = tc.adv.AppendBinary(prefix)
			if err != nil || !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Errorf("AppendBinary = %x, %v; want prefix + golden", got, err)
			}

			dec := vrrp.Advertisement{Src: tc.adv.Src, Dst: tc.adv.Dst}
			if err := dec.UnmarshalBinary(want); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			if !reflect.DeepEqual(dec, tc.adv) {
				t.Errorf("UnmarshalBinary\n got %+v\nwant %+v", dec, tc.adv)
			}
		})
	}
}

func TestUnmarshalWithoutSrcDst(t *testing.T) {
	// Without Src and Dst the family comes from the length and the VRRPv3
	// checksum cannot be verified; VRRPv2's still is.
	for _, tc := range goldenAdverts {
		t.Run(tc.name, func(t *testing.T) {
			var dec vrrp.Advertisement
			if err := dec.UnmarshalBinary(mustHex(t, tc.hex)); err != nil {
				t.Fatal(err)
			}
			if !slicesEqual(dec.Addresses, tc.adv.Addresses) || dec.Src.IsValid() || dec.Dst.IsValid() {
				t.Errorf("got %+v", dec)
			}
		})
	}
	b := mustHex(t, goldenAdverts[0].hex)
	b[6] ^= 1
	var dec vrrp.Advertisement
	if err := dec.UnmarshalBinary(b); err != vrrp.ErrChecksum {
		t.Errorf("v2 with a bad checksum and no Src: %v, want ErrChecksum", err)
	}
}

func slicesEqual(a, b []netip.Addr) bool { return reflect.DeepEqual(a, b) }

func TestUnmarshalKeepsSrcDstAndReusesAddresses(t *testing.T) {
	tc := goldenAdverts[3]
	dec := vrrp.Advertisement{Src: tc.adv.Src, Dst: tc.adv.Dst, Addresses: make([]netip.Addr, 0, 4)}
	backing := &dec.Addresses[:1][0]
	if err := dec.UnmarshalBinary(mustHex(t, tc.hex)); err != nil {
		t.Fatal(err)
	}
	if dec.Src != tc.adv.Src || dec.Dst != tc.adv.Dst {
		t.Errorf("Src/Dst changed to %v/%v", dec.Src, dec.Dst)
	}
	if &dec.Addresses[0] != backing {
		t.Error("Addresses was reallocated although it had capacity")
	}
}

// fixChecksum recomputes the checksum of a VRRP message in place: over the
// message for v2, over the pseudo-header of src and dst plus the message for v3.
func fixChecksum(msg []byte, src, dst netip.Addr) []byte {
	msg[6], msg[7] = 0, 0
	var pseudo []byte
	if msg[0]>>4 == 3 {
		pseudo = append(src.AsSlice(), dst.AsSlice()...)
		if src.Is4() {
			pseudo = append(pseudo, 0, 112, byte(len(msg)>>8), byte(len(msg)))
		} else {
			pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(msg)))
			pseudo = append(pseudo, 0, 0, 0, 112)
		}
	}
	binary.BigEndian.PutUint16(msg[6:], internetChecksum(append(pseudo, msg...)))
	return msg
}

func internetChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestUnmarshalErrors(t *testing.T) {
	v4src, v4dst := netip.MustParseAddr("10.99.0.1"), groupV4
	v6src, v6dst := netip.MustParseAddr("fe80::1"), groupV6
	golden := func(i int) []byte { return mustHex(t, goldenAdverts[i].hex) }
	patch := func(b []byte, i int, v byte) []byte { b[i] = v; return b }
	tests := []struct {
		name     string
		msg      []byte
		src, dst netip.Addr
		want     error
	}{
		{"empty", nil, v4src, v4dst, vrrp.ErrTruncated},
		{"version byte only", []byte{0x31}, v4src, v4dst, vrrp.ErrTruncated},
		{"v3 header cut", golden(2)[:7], v4src, v4dst, vrrp.ErrTruncated},
		{"v2 without auth data", golden(0)[:12], v4src, v4dst, vrrp.ErrTruncated},
		{"version 1", patch(golden(2), 0, 0x11), v4src, v4dst, vrrp.ErrVersion},
		{"version 4", patch(golden(2), 0, 0x41), v4src, v4dst, vrrp.ErrVersion},
		{"version 0", []byte{0x01}, v4src, v4dst, vrrp.ErrVersion},
		{"type 2", patch(golden(2), 0, 0x32), v4src, v4dst, vrrp.ErrType},
		{"type 0", patch(golden(0), 0, 0x20), v4src, v4dst, vrrp.ErrType},
		{"v2 bad checksum", patch(golden(1), 7, 0), v4src, v4dst, vrrp.ErrChecksum},
		{"v2 bad auth data", patch(golden(1), 20, 'S'), v4src, v4dst, vrrp.ErrChecksum},
		{"v3v4 bad checksum", patch(golden(2), 6, 0), v4src, v4dst, vrrp.ErrChecksum},
		{"v3v4 other source", golden(2), netip.MustParseAddr("10.99.0.2"), v4dst, vrrp.ErrChecksum},
		{"v3v4 unicast destination", golden(2), v4src, netip.MustParseAddr("10.99.0.2"), vrrp.ErrChecksum},
		{"v3v6 bad checksum", patch(golden(3), 7, 0), v6src, v6dst, vrrp.ErrChecksum},
		{"v3v6 other source", golden(3), netip.MustParseAddr("fe80::2"), v6dst, vrrp.ErrChecksum},
		{"v2 count too high", fixChecksum(patch(golden(0), 3, 2), v4src, v4dst), v4src, v4dst, vrrp.ErrAddressCount},
		{"v2 count zero", fixChecksum(patch(golden(0), 3, 0), v4src, v4dst), v4src, v4dst, vrrp.ErrAddressCount},
		{"v3v4 count too high", fixChecksum(patch(golden(2), 3, 3), v4src, v4dst), v4src, v4dst, vrrp.ErrAddressCount},
		{"v3v4 trailing byte", fixChecksum(append(golden(2), 0), v4src, v4dst), v4src, v4dst, vrrp.ErrAddressCount},
		{"v3v6 count too low", fixChecksum(patch(golden(3), 3, 1), v6src, v6dst), v6src, v6dst, vrrp.ErrAddressCount},
		{"v3 length fits neither family", fixChecksum(append(golden(2), 1, 2), v4src, v4dst), netip.Addr{}, netip.Addr{}, vrrp.ErrAddressCount},
		{"v3v6 message with IPv4 Src/Dst", golden(3), v4src, v4dst, vrrp.ErrAddressFamily},
		{"v3v4 message with IPv6 Src/Dst", golden(2), v6src, v6dst, vrrp.ErrAddressFamily},
		{"Src and Dst of different families", golden(2), v4src, v6dst, vrrp.ErrAddressFamily},
		{"v2 over IPv6", golden(0), v6src, v6dst, vrrp.ErrAddressFamily},
		{"v2 interval 0", fixChecksum(patch(golden(0), 5, 0), v4src, v4dst), v4src, v4dst, vrrp.ErrInterval},
		{"v3 interval 0", fixChecksum(patch(patch(golden(2), 4, 0xf0), 5, 0), v4src, v4dst), v4src, v4dst, vrrp.ErrInterval},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			adv := vrrp.Advertisement{Src: tc.src, Dst: tc.dst}
			// Unwrapped, so that dropping a packet allocates nothing.
			if err := adv.UnmarshalBinary(tc.msg); err != tc.want {
				t.Errorf("UnmarshalBinary(%x) = %v, want %v", tc.msg, err, tc.want)
			}
			if adv.Src != tc.src || adv.Dst != tc.dst {
				t.Errorf("Src/Dst changed to %v/%v", adv.Src, adv.Dst)
			}
		})
	}
}

func TestUnmarshalIgnoresReservedBits(t *testing.T) {
	tc := goldenAdverts[2]
	b := mustHex(t, tc.hex)
	b[4] |= 0xa0 // RFC 5798 section 5.2.5: reserved, ignored on receive
	fixChecksum(b, tc.adv.Src, tc.adv.Dst)
	adv := vrrp.Advertisement{Src: tc.adv.Src, Dst: tc.adv.Dst}
	if err := adv.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if adv.Interval != time.Second {
		t.Errorf("Interval = %v, want 1s", adv.Interval)
	}
}

func TestMarshalErrors(t *testing.T) {
	v4 := []netip.Addr{netip.MustParseAddr("10.99.0.100")}
	v6 := []netip.Addr{netip.MustParseAddr("fd00:99::100")}
	v4src, v6src := netip.MustParseAddr("10.99.0.1"), netip.MustParseAddr("fe80::1")
	v2 := func(ivl time.Duration, addrs []netip.Addr) vrrp.Advertisement {
		return vrrp.Advertisement{Version: vrrp.V2, VRID: 1, Priority: 100, Interval: ivl, Addresses: addrs}
	}
	v3 := func(ivl time.Duration, addrs []netip.Addr, src, dst netip.Addr) vrrp.Advertisement {
		return vrrp.Advertisement{Version: vrrp.V3, VRID: 1, Priority: 100, Interval: ivl, Addresses: addrs, Src: src, Dst: dst}
	}
	many := make([]netip.Addr, 256)
	for i := range many {
		many[i] = netip.AddrFrom4([4]byte{10, 99, 1, byte(i)})
	}
	tests := []struct {
		name string
		adv  vrrp.Advertisement
		want error
	}{
		{"version 0", vrrp.Advertisement{Interval: time.Second, Addresses: v4}, vrrp.ErrVersion},
		{"version 4", vrrp.Advertisement{Version: 4, Interval: time.Second, Addresses: v4}, vrrp.ErrVersion},
		{"v2 interval 0", v2(0, v4), vrrp.ErrInterval},
		{"v2 fractional seconds", v2(1500*time.Millisecond, v4), vrrp.ErrInterval},
		{"v2 interval 256s", v2(256*time.Second, v4), vrrp.ErrInterval},
		{"v2 negative interval", v2(-time.Second, v4), vrrp.ErrInterval},
		{"v3 interval 0", v3(0, v4, v4src, groupV4), vrrp.ErrInterval},
		{"v3 interval 5ms", v3(5*time.Millisecond, v4, v4src, groupV4), vrrp.ErrInterval},
		{"v3 interval 15ms", v3(15*time.Millisecond, v4, v4src, groupV4), vrrp.ErrInterval},
		{"v3 interval 40.96s", v3(4096*10*time.Millisecond, v4, v4src, groupV4), vrrp.ErrInterval},
		{"v2 IPv6 address", v2(time.Second, v6), vrrp.ErrAddressFamily},
		{"v2 IPv6 Src", func() vrrp.Advertisement { a := v2(time.Second, v4); a.Src = v6src; return a }(), vrrp.ErrAddressFamily},
		{"v2 invalid address", v2(time.Second, []netip.Addr{{}}), vrrp.ErrAddressFamily},
		{"v3 mixed families", v3(time.Second, append(v4, v6...), v4src, groupV4), vrrp.ErrAddressFamily},
		{"v3 IPv6 addresses, IPv4 Src", v3(time.Second, v6, v4src, groupV4), vrrp.ErrAddressFamily},
		{"v3 Src and Dst of different families", v3(time.Second, v4, v4src, groupV6), vrrp.ErrAddressFamily},
		{"v3 without Src", v3(time.Second, v4, netip.Addr{}, groupV4), vrrp.ErrAddressFamily},
		{"v3 without Dst", v3(time.Second, v4, v4src, netip.Addr{}), vrrp.ErrAddressFamily},
		{"256 addresses", v3(time.Second, many, v4src, groupV4), vrrp.ErrAddressCount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.adv.MarshalBinary()
			if !errors.Is(err, tc.want) {
				t.Errorf("MarshalBinary = %x, %v; want %v", b, err, tc.want)
			}
			prefix := []byte{1, 2, 3}
			out, err := tc.adv.AppendBinary(prefix)
			if !errors.Is(err, tc.want) || !bytes.Equal(out, prefix) {
				t.Errorf("AppendBinary = %x, %v; want the input unchanged and %v", out, err, tc.want)
			}
		})
	}
}

func TestIntervalLimits(t *testing.T) {
	for _, tc := range []struct {
		version vrrp.Version
		ivl     time.Duration
	}{
		{vrrp.V2, time.Second}, {vrrp.V2, 255 * time.Second},
		{vrrp.V3, 10 * time.Millisecond}, {vrrp.V3, 40950 * time.Millisecond},
	} {
		adv := vrrp.Advertisement{Version: tc.version, VRID: 1, Priority: 1, Interval: tc.ivl,
			Addresses: []netip.Addr{netip.MustParseAddr("10.99.0.100")}, Src: netip.MustParseAddr("10.99.0.1"), Dst: groupV4}
		b, err := adv.MarshalBinary()
		if err != nil {
			t.Fatalf("v%d %v: %v", tc.version, tc.ivl, err)
		}
		dec := vrrp.Advertisement{Src: adv.Src, Dst: adv.Dst}
		if err := dec.UnmarshalBinary(b); err != nil || dec.Interval != tc.ivl {
			t.Errorf("v%d %v decoded as %v, %v", tc.version, tc.ivl, dec.Interval, err)
		}
	}
}

func TestPasswordAuth(t *testing.T) {
	for _, tc := range []struct {
		pass string
		want [8]byte
	}{
		{"", [8]byte{}},
		{"1111", [8]byte{'1', '1', '1', '1'}},
		{"exactly8", [8]byte{'e', 'x', 'a', 'c', 't', 'l', 'y', '8'}},
		// keepalived: "Truncating auth_pass to 8 characters".
		{"longer than eight", [8]byte{'l', 'o', 'n', 'g', 'e', 'r', ' ', 't'}},
	} {
		if got := vrrp.PasswordAuth(tc.pass); got != tc.want {
			t.Errorf("PasswordAuth(%q) = %q, want %q", tc.pass, got, tc.want)
		}
	}
}

func TestCodecAllocations(t *testing.T) {
	for _, tc := range goldenAdverts {
		t.Run(tc.name, func(t *testing.T) {
			msg := mustHex(t, tc.hex)
			dec := vrrp.Advertisement{Src: tc.adv.Src, Dst: tc.adv.Dst}
			if n := testing.AllocsPerRun(100, func() {
				if err := dec.UnmarshalBinary(msg); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("UnmarshalBinary: %v allocs, want 0", n)
			}
			bad := append([]byte(nil), msg...)
			bad[7] ^= 0xff
			if n := testing.AllocsPerRun(100, func() { _ = dec.UnmarshalBinary(bad) }); n != 0 {
				t.Errorf("UnmarshalBinary of a bad packet: %v allocs, want 0", n)
			}
			buf := make([]byte, 0, 128)
			if n := testing.AllocsPerRun(100, func() {
				if _, err := tc.adv.AppendBinary(buf[:0]); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("AppendBinary: %v allocs, want 0", n)
			}
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	for _, tc := range goldenAdverts {
		if tc.name == "v2-pass" {
			continue
		}
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 128)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.adv.AppendBinary(buf[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnmarshal(b *testing.B) {
	for _, tc := range goldenAdverts {
		if tc.name == "v2-pass" {
			continue
		}
		b.Run(tc.name, func(b *testing.B) {
			msg := mustHex(b, tc.hex)
			dec := vrrp.Advertisement{Src: tc.adv.Src, Dst: tc.adv.Dst}
			b.ReportAllocs()
			for b.Loop() {
				if err := dec.UnmarshalBinary(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestGoldenTshark has Wireshark's VRRP dissector decode the golden adverts
// (wrapped in IPv4/IPv6 headers with TTL/hop limit 255) and report their
// checksums correct, and a corrupted copy's incorrect.
func TestGoldenTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		testenv.Unavailable(t, "needs tshark on PATH (apt-get install tshark)")
	}
	var packets [][]byte
	var want []string
	for _, tc := range goldenAdverts {
		msg := mustHex(t, tc.hex)
		packets = append(packets, ipPacket(tc.adv.Src, tc.adv.Dst, 255, msg))
		want = append(want, tsharkLine(t, tc.name, &tc.adv, "1"))
	}
	bad := mustHex(t, goldenAdverts[2].hex)
	bad[7] ^= 1
	packets = append(packets, ipPacket(goldenAdverts[2].adv.Src, goldenAdverts[2].adv.Dst, 255, bad))
	want = append(want, tsharkLine(t, "corrupted", &goldenAdverts[2].adv, "0"))

	path := filepath.Join(t.TempDir(), "golden.pcap")
	if err := os.WriteFile(path, pcapFile(packets), 0o600); err != nil {
		t.Fatal(err)
	}
	got := tsharkFields(t, path)
	if len(got) != len(want) {
		t.Fatalf("tshark decoded %d packets, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		t.Logf("tshark: %s", got[i])
		if got[i] != want[i] {
			t.Errorf("packet %d:\n got %q\nwant %q", i, got[i], want[i])
		}
	}
}

// tsharkFieldList are the fields tsharkFields prints, in order: checksum status
// (1 good, 0 bad), version, VRID, priority, count, addresses and auth string.
var tsharkFieldList = []string{"vrrp.checksum.status", "vrrp.version", "vrrp.virt_rtr_id", "vrrp.prio",
	"vrrp.addr_count", "vrrp.ip_addr", "vrrp.ipv6_addr", "vrrp.auth_string"}

// tsharkLine is what tsharkFields prints for adv with the given checksum status.
func tsharkLine(t testing.TB, name string, adv *vrrp.Advertisement, status string) string {
	var v4, v6 []string
	for _, a := range adv.Addresses {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	auth := ""
	if adv.AuthType == vrrp.AuthSimple {
		auth = string(bytes.TrimRight(adv.AuthData[:], "\x00"))
	}
	return strings.Join([]string{status, itoa(uint8(adv.Version)), itoa(adv.VRID), itoa(adv.Priority),
		itoa(uint8(len(adv.Addresses))), strings.Join(v4, ","), strings.Join(v6, ","), auth}, "|")
}

func itoa(v uint8) string { return strconv.Itoa(int(v)) }

// tsharkFields returns one line per VRRP packet in the capture at path.
func tsharkFields(t testing.TB, path string) []string {
	t.Helper()
	args := []string{"-r", path, "-Y", "vrrp", "-T", "fields", "-E", "separator=|", "-E", "aggregator=,"}
	for _, f := range tsharkFieldList {
		args = append(args, "-e", f)
	}
	text := strings.TrimSpace(string(runTshark(t, args...)))
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// runTshark runs tshark with a fresh profile, so that nobody's Wireshark
// preferences (say, "VRRPv3 checksum as in VRRPv2") change what it reports.
func runTshark(t testing.TB, args ...string) []byte {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command("tshark", args...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr)
	}
	return out
}

// ipPacket wraps a VRRP message in an IPv4 or IPv6 header.
func ipPacket(src, dst netip.Addr, hopLimit uint8, msg []byte) []byte {
	if src.Is4() {
		h := make([]byte, 20, 20+len(msg))
		h[0] = 0x45
		h[1] = 0xc0 // DSCP CS6 (network control), as keepalived sends
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(msg)))
		h[8], h[9] = hopLimit, 112
		copy(h[12:], src.AsSlice())
		copy(h[16:], dst.AsSlice())
		binary.BigEndian.PutUint16(h[10:], internetChecksum(h))
		return append(h, msg...)
	}
	h := make([]byte, 40, 40+len(msg))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(msg)))
	h[6], h[7] = 112, hopLimit
	copy(h[8:], src.AsSlice())
	copy(h[24:], dst.AsSlice())
	return append(h, msg...)
}

// pcapFile is a classic pcap capture of raw IP packets (LINKTYPE_RAW).
func pcapFile(packets [][]byte) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint32(b, 0)     // thiszone
	b = le.AppendUint32(b, 0)     // sigfigs
	b = le.AppendUint32(b, 65535) // snaplen
	b = le.AppendUint32(b, 101)   // LINKTYPE_RAW
	for i, p := range packets {
		b = le.AppendUint32(b, uint32(i+1)) // seconds
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(len(p)))
		b = le.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}
