package health

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// A Validator is a Prober that can check its own configuration. Checker.Add
// calls Validate and rejects the target with ErrInvalidTarget if it fails, so a
// mistyped configuration is reported when it is given rather than as a target
// that is always down. All probers in this package implement it.
type Validator interface {
	Validate() error
}

var errNoAddr = errors.New("no address")

// Validate reports a missing address.
func (t TCP) Validate() error {
	if !t.Addr.IsValid() {
		return fmt.Errorf("tcp: %w", errNoAddr)
	}
	return nil
}

// Validate reports a missing address, a path not starting with "/", and status
// ranges outside 100-599 or reversed.
func (h HTTP) Validate() error {
	if !h.Addr.IsValid() {
		return fmt.Errorf("http: %w", errNoAddr)
	}
	if _, err := h.request(false); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	for _, r := range h.Status {
		if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
			return fmt.Errorf("http: status range %d-%d is not within 100-599 and ordered", r.Min, r.Max)
		}
	}
	if h.Digest != "" && len(h.Digest) != 32 {
		return fmt.Errorf("http: digest %q is not 32 hex digits (MD5)", h.Digest)
	}
	return nil
}

// Validate reports a missing address.
func (u UDP) Validate() error {
	if !u.Addr.IsValid() {
		return fmt.Errorf("udp: %w", errNoAddr)
	}
	return nil
}

// Validate reports a missing server, a name that is not a valid DNS name, and a
// query type Probe cannot compare answers for.
func (d DNS) Validate() error {
	if !d.Server.IsValid() {
		return fmt.Errorf("dns: %w", errNoAddr)
	}
	name := d.Name
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	if _, err := dnsmessage.NewName(name); err != nil || strings.Contains(strings.TrimSuffix(name, "."), "..") {
		return fmt.Errorf("dns: invalid name %q", d.Name)
	}
	switch d.Type {
	case 0, dnsmessage.TypeA, dnsmessage.TypeAAAA, dnsmessage.TypeNS, dnsmessage.TypeCNAME,
		dnsmessage.TypePTR, dnsmessage.TypeMX, dnsmessage.TypeTXT, dnsmessage.TypeSOA:
		return nil
	}
	return fmt.Errorf("dns: unsupported query type %v", d.Type)
}

// Validate reports a missing address.
func (i ICMP) Validate() error {
	if !i.Addr.IsValid() {
		return fmt.Errorf("icmp: %w", errNoAddr)
	}
	return nil
}

// Validate reports a missing program, and a Credential where the system has no
// Unix credentials.
func (e Exec) Validate() error {
	if e.Path == "" {
		return errors.New("exec: no program")
	}
	if e.Credential != nil {
		if err := credentialSupport(); err != nil {
			return fmt.Errorf("exec: credential: %w", err)
		}
	}
	return nil
}

// Validate reports a missing path.
func (f File) Validate() error {
	if f.Path == "" {
		return errors.New("file: no path")
	}
	return nil
}
