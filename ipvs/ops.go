package ipvs

import (
	"fmt"
	"net/netip"
)

// OpKind is what an Op does.
type OpKind uint8

// Operation kinds of a batch.
const (
	OpCreateService OpKind = iota + 1
	OpUpdateService
	OpDeleteService
	OpCreateDestination
	OpUpdateDestination
	OpDeleteDestination
)

func (k OpKind) cmd() uint8 {
	switch k {
	case OpCreateService:
		return cmdNewService
	case OpUpdateService:
		return cmdSetService
	case OpDeleteService:
		return cmdDelService
	case OpCreateDestination:
		return cmdNewDest
	case OpUpdateDestination:
		return cmdSetDest
	case OpDeleteDestination:
		return cmdDelDest
	}
	return 0
}

func (k OpKind) String() string {
	switch k {
	case OpCreateService:
		return "create service"
	case OpUpdateService:
		return "update service"
	case OpDeleteService:
		return "delete service"
	case OpCreateDestination:
		return "create destination"
	case OpUpdateDestination:
		return "update destination"
	case OpDeleteDestination:
		return "delete destination"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Op is one change in a batch (see Apply). Destination operations use only the key
// of Service.
type Op struct {
	Kind        OpKind
	Service     Service
	Destination Destination
}

func (o Op) String() string {
	switch o.Kind {
	case OpCreateDestination, OpUpdateDestination, OpDeleteDestination:
		return fmt.Sprintf("%s %s in %s", o.Kind, o.Destination.AddrPort(), o.Service.ServiceKey)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Service.ServiceKey)
}

// Validate reports why o cannot be sent.
func (o Op) Validate() error {
	switch o.Kind {
	case OpCreateService, OpUpdateService:
		return o.Service.Validate()
	case OpDeleteService:
		return o.Service.ServiceKey.Validate()
	case OpCreateDestination, OpUpdateDestination:
		if err := o.Service.ServiceKey.Validate(); err != nil {
			return err
		}
		return o.Destination.Validate(o.Service.ServiceKey)
	case OpDeleteDestination:
		if err := o.Service.ServiceKey.Validate(); err != nil {
			return err
		}
		if !o.Destination.Address.IsValid() {
			return fmt.Errorf("%w: destination of %s has no address", ErrInvalid, o.Service.ServiceKey)
		}
		return nil
	}
	return fmt.Errorf("%w: operation kind %d", ErrInvalid, o.Kind)
}

// validateOps checks a whole batch so that an invalid one sends nothing.
func validateOps(ops []Op) error {
	for i, op := range ops {
		if err := op.Validate(); err != nil {
			return fmt.Errorf("ipvs: apply: op %d (%s): %w", i, op, err)
		}
	}
	return nil
}

// Interface is the IPVS table as programs (and the Reconciler) use it. *Client
// implements it against the kernel and *ipvstest.Table in memory, with the same
// semantics and errors, so code written against Interface is unit-testable.
type Interface interface {
	CreateService(Service) error
	UpdateService(Service) error
	DeleteService(ServiceKey) error
	Service(ServiceKey) (Service, error)
	Services() ([]Service, error)

	CreateDestination(ServiceKey, Destination) error
	UpdateDestination(ServiceKey, Destination) error
	DeleteDestination(ServiceKey, netip.AddrPort) error
	Destinations(ServiceKey) ([]Destination, error)
	// DestinationsOf lists the destinations of many services at once (out[i]
	// for keys[i]); a missing service has none.
	DestinationsOf(keys []ServiceKey) ([][]Destination, error)

	// Apply performs ops in order, continuing past failures. It validates every op
	// first and sends nothing if one is invalid. Failures are returned as a
	// *BatchError.
	Apply(ops []Op) error

	Flush() error
	ZeroService(ServiceKey) error
	ZeroAll() error
	Timeouts() (Timeouts, error)
	SetTimeouts(Timeouts) error
	StartSyncDaemon(SyncDaemon) error
	StopSyncDaemon(SyncState) error
	SyncDaemons() ([]SyncDaemon, error)
	Info() (Info, error)
}
