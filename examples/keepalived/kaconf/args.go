package kaconf

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// parser wraps the diagnostics with the argument checks every block needs. Each
// check reports its own error with the statement's position and returns
// false, so callers simply skip the statement.
type parser struct {
	*diagSink
	prevVS map[Pos]parsedVS // Options.Previous's virtual_server blocks
}

// where names the enclosing block in messages: "in vrrp_instance VI_1".
func (p parser) unsupported(s *stmt, where string) {
	p.errorf(s.pos, "unsupported keyword %q %s", s.kw(), where)
}

func (p parser) ignored(s *stmt, why string) {
	p.warnf(s.pos, "%q ignored: %s", s.kw(), why)
}

// n checks the argument count and that no block follows.
func (p parser) n(s *stmt, min, max int) bool {
	if s.hasBlock {
		p.errorf(s.pos, "%s does not take a block", s.kw())
		return false
	}
	n := len(s.args())
	switch {
	case n >= min && n <= max:
		return true
	case min == max:
		p.errorf(s.pos, "%s needs %d argument(s), got %d", s.kw(), min, n)
	case n < min:
		p.errorf(s.pos, "%s needs at least %d argument(s), got %d", s.kw(), min, n)
	default:
		p.errorf(s.pos, "%s takes at most %d argument(s), got %d", s.kw(), max, n)
	}
	return false
}

// block checks that s opens a block and has at most maxArgs arguments.
func (p parser) block(s *stmt, minArgs, maxArgs int) bool {
	if !s.hasBlock {
		p.errorf(s.pos, "%s needs a { } block", s.kw())
		return false
	}
	if n := len(s.args()); n < minArgs || n > maxArgs {
		if minArgs == maxArgs {
			p.errorf(s.pos, "%s needs %d argument(s) before its block, got %d", s.kw(), minArgs, n)
		} else {
			p.errorf(s.pos, "%s needs %d to %d argument(s) before its block, got %d", s.kw(), minArgs, maxArgs, n)
		}
		return false
	}
	return true
}

func (p parser) int(s *stmt, v string, what string, lo, hi int) (int, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < int64(lo) || n > int64(hi) {
		p.errorf(s.pos, "%s: %s %q is not an integer in %d..%d", s.kw(), what, v, lo, hi)
		return 0, false
	}
	return int(n), true
}

// intArg parses the only argument.
func (p parser) intArg(s *stmt, lo, hi int) (int, bool) {
	if !p.n(s, 1, 1) {
		return 0, false
	}
	return p.int(s, s.args()[0], "value", lo, hi)
}

// timer parses keepalived's <TIMER>: decimal seconds, microsecond
// resolution (further digits are dropped, as keepalived does).
func parseTimer(v string) (time.Duration, bool) {
	whole, frac, hasDot := strings.Cut(v, ".")
	if whole == "" && (!hasDot || frac == "") || !allDigits(whole) || !allDigits(frac) || len(whole) > 9 {
		return 0, false
	}
	var d time.Duration
	for _, c := range whole {
		d = d*10 + time.Duration(c-'0')
	}
	d *= time.Second
	unit := 100 * time.Millisecond
	for i := 0; i < len(frac) && i < 6; i++ {
		d += time.Duration(frac[i]-'0') * unit
		unit /= 10
	}
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (p parser) timer(s *stmt, v, what string, lo, hi time.Duration) (time.Duration, bool) {
	d, ok := parseTimer(v)
	if !ok || d < lo || d > hi {
		p.errorf(s.pos, "%s: %s %q is not a number of seconds in %s..%s", s.kw(), what, v, secs(lo), secs(hi))
		return 0, false
	}
	return d, true
}

func (p parser) timerArg(s *stmt, lo, hi time.Duration) (time.Duration, bool) {
	if !p.n(s, 1, 1) {
		return 0, false
	}
	return p.timer(s, s.args()[0], "value", lo, hi)
}

func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// boolOpt parses "keyword [<BOOL>]": the keyword alone means true.
func (p parser) boolOpt(s *stmt) (bool, bool) {
	if !p.n(s, 0, 1) {
		return false, false
	}
	if len(s.args()) == 0 {
		return true, true
	}
	switch strings.ToLower(s.args()[0]) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	p.errorf(s.pos, "%s: %q is not one of on|off|true|false|yes|no", s.kw(), s.args()[0])
	return false, false
}

func (p parser) flag(s *stmt) bool { return p.n(s, 0, 0) }

func (p parser) addr(s *stmt, v, what string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		p.errorf(s.pos, "%s: %s %q is not an IP address", s.kw(), what, v)
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (p parser) addrArg(s *stmt) (netip.Addr, bool) {
	if !p.n(s, 1, 1) {
		return netip.Addr{}, false
	}
	return p.addr(s, s.args()[0], "address")
}

func (p parser) port(s *stmt, v string) (uint16, bool) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		p.errorf(s.pos, "%s: port %q is not in 1..65535", s.kw(), v)
		return 0, false
	}
	return uint16(n), true
}

func (p parser) portArg(s *stmt) (uint16, bool) {
	if !p.n(s, 1, 1) {
		return 0, false
	}
	return p.port(s, s.args()[0])
}

func (p parser) stringArg(s *stmt) (string, bool) {
	if !p.n(s, 1, 1) {
		return "", false
	}
	return s.args()[0], true
}

// script parses "keyword <STRING>|<QUOTED-STRING> [username [:][groupname]]".
func (p parser) script(s *stmt) (*Script, bool) {
	if !p.n(s, 1, 3) {
		return nil, false
	}
	a := s.args()
	args, ok := splitScript(a[0])
	if !ok || len(args) == 0 {
		p.errorf(s.pos, "%s: cannot split %q into a command and arguments", s.kw(), a[0])
		return nil, false
	}
	sc := &Script{Pos: s.pos, Command: a[0], Args: args}
	if len(a) > 1 {
		sc.User = a[1]
		if u, g, ok := strings.Cut(sc.User, ":"); ok {
			sc.User, sc.Group = u, g
		}
	}
	if len(a) > 2 {
		sc.Group = strings.TrimPrefix(a[2], ":")
	}
	return sc, true
}

// splitScript splits a script string into argv as keepalived does:
// blanks separate words, '...' and "..." group, and backslash escapes
// (\n, \t, \xHH, \ooo, \\, \' ...) are decoded.
func splitScript(s string) ([]string, bool) {
	var out []string
	var b strings.Builder
	in := false
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) {
				return nil, false
			}
			i++
			var n int
			c, n = unescape(s[i:])
			i += n - 1
			b.WriteByte(c)
			in = true
		case quote != 0:
			if c == quote {
				quote = 0
			} else {
				b.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote = c
			in = true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, false
	}
	if in {
		out = append(out, b.String())
	}
	return out, true
}

// unescape decodes the escape at the start of s (after the backslash) and
// returns the byte and how many bytes of s it used.
func unescape(s string) (byte, int) {
	switch c := s[0]; c {
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 'E':
		return 0x1b, 1
	case 'f':
		return '\f', 1
	case 'n':
		return '\n', 1
	case 'r':
		return '\r', 1
	case 't':
		return '\t', 1
	case 'v':
		return '\v', 1
	case 'x':
		var v byte
		n := 1
		for ; n < 3 && n < len(s) && isHex(s[n]); n++ {
			v = v<<4 | hexVal(s[n])
		}
		if n == 1 {
			return 'x', 1
		}
		return v, n
	case 'c':
		if len(s) > 1 {
			return s[1] & 0x1f, 2
		}
		return 'c', 1
	default:
		if c >= '0' && c <= '7' {
			v, n := byte(0), 0
			for ; n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7'; n++ {
				v = v<<3 | (s[n] - '0')
			}
			return v, n
		}
		return c, 1
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// track parses one line of a track_* block: "NAME [weight N] [reverse|noreverse]".
func (p parser) track(s *stmt, lo, hi int) (Track, bool, bool) {
	t := Track{Pos: s.pos, Name: s.kw()}
	if s.hasBlock {
		p.errorf(s.pos, "%s does not take a block", s.kw())
		return t, false, false
	}
	weightSet := false
	a := s.args()
	for i := 0; i < len(a); i++ {
		switch a[i] {
		case "weight":
			if i+1 >= len(a) {
				p.errorf(s.pos, "%s: weight needs a value", s.kw())
				return t, false, false
			}
			w, ok := p.int(s, a[i+1], "weight", lo, hi)
			if !ok {
				return t, false, false
			}
			t.Weight, weightSet = w, true
			i++
		case "reverse":
			t.Reverse = true
		case "noreverse":
			t.Reverse = false
		default:
			p.errorf(s.pos, "%s: unexpected %q (want weight N, reverse or noreverse)", s.kw(), a[i])
			return t, false, false
		}
	}
	return t, weightSet, true
}
