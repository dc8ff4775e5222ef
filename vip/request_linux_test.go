package vip

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// nlmsg builds one netlink message: header, then body, padded to alignment.
func nlmsg(typ uint16, seq uint32, body []byte) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(unix.SizeofNlMsghdr+len(body)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, body...)
	return append(b, make([]byte, nlmsgAlign(len(b))-len(b))...)
}

// nlerr is the body of an NLMSG_ERROR: the negated errno and the echoed
// request header.
func nlerr(errno unix.Errno) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	return append(b, make([]byte, unix.SizeofNlMsghdr)...)
}

func TestAckFor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      []byte
		want   unix.Errno
		wantOK bool
	}{
		{"success", nlmsg(unix.NLMSG_ERROR, 7, nlerr(0)), 0, true},
		{"refused", nlmsg(unix.NLMSG_ERROR, 7, nlerr(unix.EEXIST)), unix.EEXIST, true},
		{"an older request's reply", nlmsg(unix.NLMSG_ERROR, 6, nlerr(unix.EEXIST)), 0, false},
		{"after another message", append(nlmsg(unix.RTM_NEWADDR, 7, []byte{1, 2, 3}), nlmsg(unix.NLMSG_ERROR, 7, nlerr(unix.EPERM))...), unix.EPERM, true},
		{"no error code", nlmsg(unix.NLMSG_ERROR, 7, nil), 0, false},
		{"cut short", nlmsg(unix.NLMSG_ERROR, 7, nlerr(0))[:unix.SizeofNlMsghdr+2], 0, false},
		{"length below a header", func() []byte {
			b := nlmsg(unix.NLMSG_ERROR, 7, nlerr(0))
			binary.NativeEndian.PutUint32(b, 3)
			return b
		}(), 0, false},
		{"empty", nil, 0, false},
	} {
		got, ok := ackFor(tc.b, 7)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: ackFor = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}
