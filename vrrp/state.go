package vrrp

import "strconv"

// State is a VRRP router state (RFC 5798 section 6.4) plus keepalived's Fault.
type State uint8

const (
	// StateInit is RFC 5798's Initialize: not participating (before Run, after shutdown).
	StateInit State = iota
	// StateBackup monitors the master and takes over when it goes away.
	StateBackup
	// StateMaster owns the virtual addresses and sends advertisements.
	StateMaster
	// StateFault does not participate because the interface is down or a tracked
	// check with weight 0 failed (keepalived semantics). A master entering Fault sends
	// a priority-0 advertisement and releases its addresses.
	StateFault
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "Init"
	case StateBackup:
		return "Backup"
	case StateMaster:
		return "Master"
	case StateFault:
		return "Fault"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}
