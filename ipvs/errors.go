package ipvs

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Errors callers branch on with errors.Is. The kernel's errno stays in the chain too,
// so errors.Is(err, syscall.EEXIST) also works.
var (
	ErrServiceExists        = errors.New("ipvs: service exists")
	ErrServiceNotFound      = errors.New("ipvs: service not found")
	ErrDestinationExists    = errors.New("ipvs: destination exists")
	ErrDestinationNotFound  = errors.New("ipvs: destination not found")
	ErrUnknownScheduler     = errors.New("ipvs: unknown scheduler or persistence engine")
	ErrSyncDaemonRunning    = errors.New("ipvs: sync daemon already running")
	ErrSyncDaemonNotRunning = errors.New("ipvs: sync daemon not running")
	// ErrNotSupported means the kernel has no IPVS (generic netlink family "IPVS"
	// missing: load the ip_vs module) or the platform is not Linux.
	ErrNotSupported = errors.New("ipvs: not supported")
	// ErrInvalid marks a configuration rejected before anything was sent.
	ErrInvalid = errors.New("ipvs: invalid configuration")
)

// permissionError says which capability is missing and still satisfies
// errors.Is(err, os.ErrPermission).
type permissionError struct{ errno syscall.Errno }

func (e permissionError) Error() string {
	return fmt.Sprintf("%v (programming IPVS needs CAP_NET_ADMIN in the target network namespace)", e.errno)
}
func (e permissionError) Unwrap() []error { return []error{os.ErrPermission, e.errno} }

// kernelError is an errno returned by the kernel, mapped to this package's sentinels
// for the command that failed.
type kernelError struct {
	sentinel error
	errno    syscall.Errno
}

func (e kernelError) Error() string {
	if e.sentinel == nil {
		return e.errno.Error()
	}
	return fmt.Sprintf("%v (%v)", e.sentinel, e.errno)
}
func (e kernelError) Unwrap() []error {
	if e.sentinel == nil {
		return []error{e.errno}
	}
	return []error{e.sentinel, e.errno}
}

// mapErrno turns the kernel's errno for cmd into an error carrying the sentinel the
// errno means for that command (ip_vs_ctl.c: ESRCH for a missing service, ENOENT for
// a missing destination or an unknown scheduler/persistence engine on create/edit).
func mapErrno(cmd uint8, errno syscall.Errno) error {
	if errno == syscall.EPERM || errno == syscall.EACCES {
		return permissionError{errno}
	}
	var s error
	switch {
	case errno == syscall.ESRCH && (cmd == cmdDelDaemon):
		s = ErrSyncDaemonNotRunning
	case errno == syscall.EEXIST && cmd == cmdNewDaemon:
		s = ErrSyncDaemonRunning
	case errno == syscall.ESRCH:
		s = ErrServiceNotFound
	case errno == syscall.EEXIST && cmd == cmdNewService:
		s = ErrServiceExists
	case errno == syscall.EEXIST && cmd == cmdNewDest:
		s = ErrDestinationExists
	case errno == syscall.ENOENT && (cmd == cmdNewService || cmd == cmdSetService):
		s = ErrUnknownScheduler
	case errno == syscall.ENOENT && (cmd == cmdSetDest || cmd == cmdDelDest):
		s = ErrDestinationNotFound
	}
	return kernelError{sentinel: s, errno: errno}
}

// KernelError builds the error the real client returns for errno on a command of the
// given kind, so in-memory tables (ipvstest) fail exactly like the kernel.
func KernelError(kind OpKind, errno syscall.Errno) error { return mapErrno(kind.cmd(), errno) }

// BatchError reports the operations of an Apply that failed; the others were applied.
type BatchError struct {
	Failed []OpError
}

// OpError is one failed operation of a batch.
type OpError struct {
	Index int // position in the ops slice
	Op    Op
	Err   error
}

func (e OpError) Error() string { return fmt.Sprintf("%s: %v", e.Op, e.Err) }
func (e OpError) Unwrap() error { return e.Err }

func (e *BatchError) Error() string {
	if len(e.Failed) == 1 {
		return "ipvs: apply: " + e.Failed[0].Error()
	}
	return fmt.Sprintf("ipvs: apply: %d operations failed, first: %v", len(e.Failed), e.Failed[0])
}

// Unwrap lets errors.Is find a sentinel in any failed operation.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i := range e.Failed {
		errs[i] = e.Failed[i]
	}
	return errs
}
