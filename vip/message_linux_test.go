package vip

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestAddrMessageGolden(t *testing.T) {
	for _, tc := range []struct {
		msg  addrMessage
		want string
	}{{
		msg: addrMessage{index: 7, prefix: netip.MustParsePrefix("10.99.1.100/32"), label: "eth0:vip", proto: DefaultProtocol},
		// ifaddrmsg: AF_INET, /32, flags 0, scope global, index 7 (host order);
		// then IFA_UNSPEC, IFA_ADDRESS, IFA_LOCAL, IFA_LABEL, IFA_FLAGS, IFA_PROTO.
		want: "02200000" + "07000000" +
			"0600000000000000" +
			"080001000a630164" + "080002000a630164" +
			"0d000300657468303a76697000000000" +
			"0800080000000000" +
			"05000b004c000000",
	}, {
		msg: addrMessage{index: 2, prefix: netip.MustParsePrefix("fe80::5/64"), flags: unix.IFA_F_NODAD | unix.IFA_F_NOPREFIXROUTE, proto: 9},
		want: "0a40" + "00fd" + "02000000" +
			"0600000000000000" +
			"14000100fe800000000000000000000000000005" +
			"0800080002020000" +
			"05000b0009000000",
	}} {
		b, err := tc.msg.marshal()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b); got != tc.want {
			t.Errorf("marshal(%+v)\n got %s\nwant %s", tc.msg, got, tc.want)
		}
		a, err := decodeAddr(b)
		if err != nil {
			t.Fatal(err)
		}
		want := addr{index: tc.msg.index, prefix: tc.msg.prefix, label: tc.msg.label, flags: tc.msg.flags, proto: tc.msg.proto, hasProto: true}
		if a != want {
			t.Errorf("decode = %+v, want %+v", a, want)
		}
	}
}

func TestDecodeAddrMalformed(t *testing.T) {
	for _, b := range []string{
		"",                                      // empty
		"0220000007000000",                      // no attributes
		"02200000070000000800010a",              // truncated attribute
		"022100000700000008000100" + "0a630164", // prefix length 33
		"02200000070000000600010001020000",      // 2-byte address
	} {
		raw, _ := hex.DecodeString(b)
		if a, err := decodeAddr(raw); err == nil {
			t.Errorf("decodeAddr(%s) = %+v, want an error", b, a)
		}
	}
}

func TestStaleRule(t *testing.T) {
	m := &Manager{cfg: Config{Interface: "eth0", Label: "eth0:vip"}}
	v4 := netip.MustParsePrefix("10.0.0.1/32")
	v6 := netip.MustParsePrefix("fd00::1/128")
	for _, tc := range []struct {
		a    addr
		want bool
	}{
		{addr{prefix: v4, proto: DefaultProtocol, hasProto: true}, true},
		{addr{prefix: v6, proto: DefaultProtocol, hasProto: true}, true},
		{addr{prefix: v4, proto: 4, hasProto: true, label: "eth0:vip"}, false}, // another owner's protocol wins over the label
		{addr{prefix: v4, label: "eth0:vip"}, true},                            // no IFA_PROTO: the label decides
		{addr{prefix: v4, label: "eth0"}, false},
		{addr{prefix: v6}, false},
	} {
		if got := m.isStale(tc.a); got != tc.want {
			t.Errorf("isStale(%+v) = %v, want %v", tc.a, got, tc.want)
		}
	}
}

func TestPermissionErrorNamesCapability(t *testing.T) {
	err := opError("add 10.0.0.1/32", "eth0", unix.EPERM)
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Fatalf("%v: want os.ErrPermission with a CAP_NET_ADMIN hint", err)
	}
	// EACCES from rtnetlink is the kernel refusing the address, not a capability.
	if err := opError("add fd00::1/128", "eth0", unix.EACCES); strings.Contains(err.Error(), "CAP_") {
		t.Fatalf("%v: EACCES got a capability hint", err)
	}
}
