package vrrp

import "fmt"

// DropReason says why a received packet was dropped.
type DropReason uint8

const (
	// DropHopLimit: TTL / hop limit was not 255, so it may come from off-link
	// (RFC 5798 section 7.1).
	DropHopLimit DropReason = iota
	// DropMalformed: truncated, not an advertisement, or an address count that
	// disagrees with the length.
	DropMalformed
	// DropChecksum: the checksum is wrong.
	DropChecksum
	// DropVersion: not the configured VRRP version.
	DropVersion
	// DropVRID: for another virtual router.
	DropVRID
	// DropAuth: VRRPv2 authentication type or password mismatch.
	DropAuth
	// DropInterval: VRRPv2 advert interval differs from ours (RFC 3768 section 7.1).
	DropInterval
	// DropAddressList: VRRPv2 address list differs from ours and the sender is not
	// the owner (RFC 3768 section 7.1). VRRPv3 only counts a mismatch (RFC 5798
	// makes the drop optional) so that changing VIPs on peers one by one never
	// causes a failover.
	DropAddressList
	// DropUnknownPeer: unicast mode, and the sender is not a configured peer.
	DropUnknownPeer
	numDropReasons
)

var dropNames = [numDropReasons]string{
	"hop limit not 255", "malformed", "bad checksum", "version mismatch", "other VRID",
	"authentication mismatch", "interval mismatch", "address list mismatch", "unknown peer",
}

func (d DropReason) String() string {
	if d < numDropReasons {
		return dropNames[d]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(d))
}

// Stats are a Router's counters since New.
type Stats struct {
	AdvertsSent     uint64
	AdvertsReceived uint64 // valid adverts, after validation
	// Drops counts dropped packets by reason; index with a DropReason.
	Drops [numDropReasons]uint64
	// AddressListMismatches counts VRRPv3 adverts whose address list differed
	// from ours (accepted, see DropAddressList).
	AddressListMismatches uint64
	Transitions           uint64
	BecameMaster          uint64
	// Conflicts counts lower-priority masters heard while master (split brain).
	Conflicts uint64
	// SendErrors, ReadErrors and AddressErrors count failed I/O on the Conn and
	// the AddressManager/Announcer.
	SendErrors, ReadErrors, AddressErrors uint64
}

// Dropped is the total of Drops.
func (s Stats) Dropped() uint64 {
	var n uint64
	for _, d := range s.Drops {
		n += d
	}
	return n
}
