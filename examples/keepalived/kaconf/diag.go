package kaconf

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by the error that Parse and Check return when the
// configuration has at least one error-severity Diagnostic.
var ErrInvalid = errors.New("kaconf: invalid configuration")

// Pos is where a statement was written: the file as it was opened (the path
// given to Parse, or the include path joined to its including file's
// directory) and the 1-based line.
type Pos struct {
	File string
	Line int
}

func (p Pos) String() string {
	if p.File == "" && p.Line == 0 {
		return "-"
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// MarshalText renders "file:line", which keeps golden dumps readable.
func (p Pos) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// Severity says whether a Diagnostic blocks the configuration.
type Severity int

const (
	// Warning marks something that lvskit ignores without changing the
	// behaviour the file describes (mail alerts, SNMP, process tuning).
	Warning Severity = iota + 1
	// Error marks something that would change behaviour if it were ignored,
	// or that keepalived itself rejects or rewrites.
	Error
)

func (s Severity) String() string {
	switch s {
	case Warning:
		return "warning"
	case Error:
		return "error"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// MarshalText renders the lower-case name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Diagnostic is one finding about the configuration, with where it was found.
type Diagnostic struct {
	Pos      Pos
	Severity Severity
	Msg      string
}

// String renders the conventional "file:line: severity: message".
func (d Diagnostic) String() string {
	return fmt.Sprintf("%s: %s: %s", d.Pos, d.Severity, d.Msg)
}

// Diagnostics is the list of findings, in the order the file was read
// (cross-reference checks come after everything was read).
type Diagnostics []Diagnostic

// Errors returns only the error-severity diagnostics.
func (ds Diagnostics) Errors() Diagnostics {
	var out Diagnostics
	for _, d := range ds {
		if d.Severity == Error {
			out = append(out, d)
		}
	}
	return out
}

// Err returns nil when there is no error-severity diagnostic, otherwise an
// error wrapping ErrInvalid that lists every error, one per line.
func (ds Diagnostics) Err() error {
	errs := ds.Errors()
	if len(errs) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d error(s):", len(errs))
	for _, d := range errs {
		b.WriteString("\n\t")
		b.WriteString(d.String())
	}
	return fmt.Errorf("%w: %s", ErrInvalid, b.String())
}

func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}
