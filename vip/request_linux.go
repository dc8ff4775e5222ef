package vip

import (
	"encoding/binary"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// requester sends address requests on the Manager's command socket and reads
// their acknowledgements itself, into buffers it reuses.
//
// netlink.Conn.Execute answers each request by peeking at the reply to size a
// buffer, allocating a page for it, reading it and decoding it into Messages.
// A takeover's address add is on the failover path, between the new master's
// first advert and its gratuitous ARP, so it gets this leaner path; listing
// and look-ups, which are not, keep Execute. The Manager uses the command
// socket only under its mutex, so no other request's replies come in between.
type requester struct {
	raw syscall.RawConn
	seq uint32
	req []byte
	// ack holds one acknowledgement: the header, the error code and an echo of
	// the request, which is far smaller than this.
	ack [4096]byte
}

// do sends one request (typ, flags and the message body) and waits for its
// acknowledgement. A kernel refusal comes back as its unix.Errno.
func (r *requester) do(typ, flags uint16, body []byte) error {
	r.seq++
	req := r.req[:0]
	req = binary.NativeEndian.AppendUint32(req, uint32(unix.SizeofNlMsghdr+len(body)))
	req = binary.NativeEndian.AppendUint16(req, typ)
	req = binary.NativeEndian.AppendUint16(req, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	req = binary.NativeEndian.AppendUint32(req, r.seq)
	req = binary.NativeEndian.AppendUint32(req, 0) // port ID: the kernel knows ours
	req = append(req, body...)
	r.req = req

	var ioErr error
	// An unconnected netlink socket writes to the kernel.
	if err := r.raw.Write(func(fd uintptr) bool {
		_, ioErr = unix.Write(int(fd), req)
		return ioErr != unix.EAGAIN
	}); err != nil {
		return err
	}
	if ioErr != nil {
		return os.NewSyscallError("write", ioErr)
	}
	for {
		var n int
		if err := r.raw.Read(func(fd uintptr) bool {
			n, ioErr = unix.Read(int(fd), r.ack[:])
			return ioErr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if ioErr != nil {
			return os.NewSyscallError("read", ioErr)
		}
		if errno, ok := ackFor(r.ack[:n], r.seq); ok {
			if errno != 0 {
				return errno
			}
			return nil
		}
		// Something older than this request, unanswered when it was sent: skip it.
	}
}

// ackFor finds the acknowledgement of request seq among the netlink messages
// in b and returns its error code (0 for success).
func ackFor(b []byte, seq uint32) (unix.Errno, bool) {
	for len(b) >= unix.SizeofNlMsghdr {
		length := int(binary.NativeEndian.Uint32(b))
		if length < unix.SizeofNlMsghdr || length > len(b) {
			return 0, false // cut short or corrupt
		}
		typ := binary.NativeEndian.Uint16(b[4:])
		if typ == unix.NLMSG_ERROR && binary.NativeEndian.Uint32(b[8:]) == seq && length >= unix.SizeofNlMsghdr+4 {
			code := int32(binary.NativeEndian.Uint32(b[unix.SizeofNlMsghdr:]))
			return unix.Errno(-code), true
		}
		b = b[min(nlmsgAlign(length), len(b)):]
	}
	return 0, false
}

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
