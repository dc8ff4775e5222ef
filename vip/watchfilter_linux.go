package vip

import (
	"encoding/binary"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// watchFilter is a socket filter for the address-event socket that lets through
// only what the watcher acts on: RTM_DELADDR for the managed interface, not
// caused by this Manager's own requests (the kernel stamps a notification with
// the port ID of the socket whose request caused it). Every other event is
// dropped in the kernel, so adding a VIP on failover does not also wake the
// watcher's goroutine — that wake-up was most of Acquire's cost.
//
// Classic BPF loads are big-endian and netlink headers are in host order, so
// each constant is compared in the order the load will see it.
func watchFilter(ifindex, ownPortID uint32) ([]bpf.RawInstruction, error) {
	const (
		typeOffset    = 4      // nlmsghdr.nlmsg_type
		portIDOffset  = 12     // nlmsghdr.nlmsg_pid
		ifindexOffset = 16 + 4 // ifaddrmsg.ifa_index, after the 16-byte nlmsghdr
	)
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: typeOffset, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: asLoaded16(unix.RTM_DELADDR), SkipTrue: 5},
		bpf.LoadAbsolute{Off: portIDOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: asLoaded32(ownPortID), SkipTrue: 3},
		bpf.LoadAbsolute{Off: ifindexOffset, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: asLoaded32(ifindex), SkipTrue: 1},
		bpf.RetConstant{Val: 0xffff}, // keep the whole message
		bpf.RetConstant{Val: 0},      // drop
	})
}

// asLoaded16 and asLoaded32 are what a big-endian BPF load reads from a field
// holding v in host byte order.
func asLoaded16(v uint16) uint32 {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], v)
	return uint32(binary.BigEndian.Uint16(b[:]))
}

func asLoaded32(v uint32) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v)
	return binary.BigEndian.Uint32(b[:])
}
