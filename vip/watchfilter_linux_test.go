package vip

import (
	"encoding/binary"
	"testing"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// TestWatchFilter runs the address-event socket filter on notifications built
// as the kernel lays them out: only another party's RTM_DELADDR on the managed
// interface may reach the watcher.
func TestWatchFilter(t *testing.T) {
	const ifindex, own = 7, 4242
	raw, err := watchFilter(ifindex, own)
	if err != nil {
		t.Fatal(err)
	}
	insns := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		insns[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	notification := func(typ uint16, portID, index uint32) []byte {
		b := make([]byte, 16+8)
		binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
		binary.NativeEndian.PutUint16(b[4:], typ)
		binary.NativeEndian.PutUint32(b[12:], portID)
		b[16] = unix.AF_INET
		binary.NativeEndian.PutUint32(b[20:], index)
		return b
	}
	for _, c := range []struct {
		what string
		msg  []byte
		keep bool
	}{
		{"someone else removed an address here", notification(unix.RTM_DELADDR, 99, ifindex), true},
		{"the kernel removed one (port ID 0)", notification(unix.RTM_DELADDR, 0, ifindex), true},
		{"this Manager removed it", notification(unix.RTM_DELADDR, own, ifindex), false},
		{"removal on another interface", notification(unix.RTM_DELADDR, 99, ifindex+1), false},
		{"an address added", notification(unix.RTM_NEWADDR, 99, ifindex), false},
		{"this Manager added one", notification(unix.RTM_NEWADDR, own, ifindex), false},
	} {
		n, err := vm.Run(c.msg)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if kept := n > 0; kept != c.keep {
			t.Errorf("%s: filter kept %d bytes, want kept=%v", c.what, n, c.keep)
		}
	}
}
