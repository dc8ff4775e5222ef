package kaconf

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Limits that keep a hostile or broken configuration from exhausting the
// process: every one is reported as an error when hit.
const (
	defaultMaxIncludeDepth = 8
	maxFiles               = 1024     // files read through include, in total
	maxFileSize            = 16 << 20 // bytes per file
	maxSubstPasses         = 16       // recursive $PARAM replacement
	maxLineLen             = 64 << 10 // a line after substitution
	maxBraceAlternatives   = 256      // include {a,b} expansion
	maxBlockDepth          = 32
)

// fileSystem is what the reader needs: the OS (filepath semantics) or an
// fs.FS (slash-separated, unrooted names).
type fileSystem interface {
	readFile(name string) ([]byte, error)
	glob(pattern string) ([]string, error)
	join(dir, name string) string
	dir(name string) string
	// key identifies a file for cycle detection.
	key(name string) string
}

type osFS struct{}

func (osFS) readFile(name string) ([]byte, error) { return readLimited(os.Open(name)) }
func (osFS) glob(p string) ([]string, error)      { return filepath.Glob(p) }
func (osFS) dir(name string) string               { return filepath.Dir(name) }
func (osFS) join(dir, name string) string {
	if filepath.IsAbs(name) {
		return filepath.Clean(name)
	}
	return filepath.Join(dir, name)
}
func (osFS) key(name string) string {
	if abs, err := filepath.Abs(name); err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			return real
		}
		return abs
	}
	return name
}

type ioFS struct{ fsys fs.FS }

func (f ioFS) readFile(name string) ([]byte, error) { return readLimited(f.fsys.Open(name)) }
func (f ioFS) glob(p string) ([]string, error)      { return fs.Glob(f.fsys, p) }
func (ioFS) dir(name string) string                 { return path.Dir(name) }
func (ioFS) key(name string) string                 { return name }
func (ioFS) join(dir, name string) string {
	if strings.HasPrefix(name, "/") {
		return path.Clean(strings.TrimLeft(name, "/"))
	}
	return path.Join(dir, name)
}

func readLimited(f fs.File, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err == nil && len(data) > maxFileSize {
		err = errors.New("file larger than 16 MiB")
	}
	return data, err
}

type lineKind int

const (
	lineWords lineKind = iota
	lineOpen
	lineClose
)

// line is one logical statement of keepalived's grammar: braces are lines
// of their own, wherever they were written, as keepalived splits them.
type line struct {
	pos   Pos
	kind  lineKind
	words []string
}

type frame struct {
	depth int // 0 for the main file, 1 for what it includes, ...
	name  string
	dir   string
	key   string
	lines []string
	next  int
	// pending holds the logical lines of the last physical line not yet
	// returned, from pendingAt on; its array is reused for the next one.
	pending   []line
	pendingAt int
}

// reader turns files into lines: it strips comments, applies @conditional
// lines and $PARAM definitions, follows includes, and splits braces.
type reader struct {
	d        *diagSink
	fsys     fileSystem
	configID string
	lookup   func(string) (string, bool)
	maxDepth int
	stack    []*frame
	defs     map[string]string
	files    []string
	slab     []stmt            // see newStmt
	plain    map[string][]line // see remember; handed to later parses
	// prevPlain is Options.Previous's plain, read only: concurrent parses
	// may share it.
	prevPlain map[string][]line
}

func (r *reader) newFrame(name string, data []byte, depth int) *frame {
	r.files = append(r.files, name)
	return &frame{
		depth: depth,
		name:  name,
		dir:   r.fsys.dir(name),
		key:   r.fsys.key(name),
		lines: strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n"),
	}
}

// next returns the next logical line, or false at the end of the main file.
func (r *reader) next() (line, bool) {
	for len(r.stack) > 0 {
		top := r.stack[len(r.stack)-1]
		if top.pendingAt < len(top.pending) {
			l := top.pending[top.pendingAt]
			top.pendingAt++
			return l, true
		}
		top.pending, top.pendingAt = top.pending[:0], 0
		if top.next >= len(top.lines) {
			r.stack = r.stack[:len(r.stack)-1]
			continue
		}
		raw := top.lines[top.next]
		top.next++
		r.physical(top, raw, Pos{File: top.name, Line: top.next})
	}
	return line{}, false
}

func (r *reader) physical(top *frame, raw string, pos Pos) {
	ls, ok := r.plain[raw]
	if !ok {
		if ls, ok = r.prevPlain[raw]; ok {
			r.keep(raw, ls)
		}
	}
	if ok {
		for _, l := range ls {
			l.pos = pos
			top.pending = append(top.pending, l)
		}
		return
	}
	s := strings.TrimSpace(decomment(raw))
	if s == "" {
		r.remember(raw, nil)
		return
	}
	// Only lines that mean the same wherever they are may be remembered.
	contextFree := !strings.HasPrefix(s, "@") && !strings.HasPrefix(s, "$") && !strings.Contains(s, "$")
	s, ok = r.conditional(s)
	if !ok || s == "" {
		return
	}
	if r.definition(s, pos) {
		return
	}
	if strings.HasPrefix(s, "~SEQ") || strings.HasPrefix(s, "~LST") {
		r.d.errorf(pos, "%s blocks are not supported; expand the line by hand", s[:4])
		return
	}
	if strings.Contains(s, "$") {
		s = strings.TrimSpace(r.substitute(s, top, pos))
		// A substituted value may itself be a conditional ("$IF_MAIN=@main").
		if s, ok = r.conditional(s); !ok || s == "" {
			return
		}
	}
	if kw, _, _ := strings.Cut(strings.ReplaceAll(s[:min(len(s), 10)], "\t", " "), " "); isInclude(kw) {
		r.include(top, strings.TrimSpace(s[len(kw):]), pos)
		return
	}
	n, diags := len(top.pending), len(r.d.list)
	top.pending = r.split(top.pending, s, pos)
	if contextFree && !strings.HasPrefix(s, "~") && len(r.d.list) == diags {
		r.remember(raw, top.pending[n:])
	}
}

// remember keeps what a physical line that needs no context (no
// conditional, parameter, include or ~SEQ, and no diagnostic) splits into.
// Large files repeat lines ("}", "weight 1"), and a reload (Options.Previous)
// repeats nearly all of them, so each distinct line is split once.
func (r *reader) remember(raw string, ls []line) {
	out := make([]line, len(ls))
	for i, l := range ls {
		l.pos = Pos{}
		out[i] = l
	}
	r.keep(raw, out)
}

func (r *reader) keep(raw string, ls []line) {
	if r.plain == nil {
		r.plain = map[string][]line{}
	}
	r.plain[raw] = ls
}

func isInclude(kw string) bool {
	switch kw {
	case "include", "includer", "includem", "includew", "includeb", "includea":
		return true
	}
	return false
}

// decomment cuts the line at the first '#' or '!' outside double quotes; a
// backslash before either keeps it literally.
func decomment(s string) string {
	if !strings.ContainsAny(s, "#!") {
		return s
	}
	var b strings.Builder
	quote := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
		case c == '\\' && !quote && i+1 < len(s) && (s[i+1] == '#' || s[i+1] == '!'):
			i++
			c = s[i]
		case !quote && (c == '#' || c == '!'):
			return b.String()
		}
		b.WriteByte(c)
	}
	return b.String()
}

// conditional applies keepalived's "@id line" and "@^id line" prefixes:
// the line is kept only if id equals (or, with ^, differs from) the config id.
func (r *reader) conditional(s string) (string, bool) {
	if !strings.HasPrefix(s, "@") {
		return s, true
	}
	id, rest, _ := strings.Cut(s[1:], " ")
	if i := strings.IndexByte(id, '\t'); i >= 0 {
		id, rest = id[:i], id[i+1:]+" "+rest
	}
	neg := strings.HasPrefix(id, "^")
	id = strings.TrimPrefix(id, "^")
	if (id == r.configID) == neg {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// definition records "$NAME=VALUE" and reports whether s was one.
func (r *reader) definition(s string, pos Pos) bool {
	if !strings.HasPrefix(s, "$") {
		return false
	}
	name, value, ok := strings.Cut(s[1:], "=")
	if !ok || !validParamName(name) {
		return false
	}
	value = strings.TrimSpace(value)
	if strings.HasSuffix(value, "\\") {
		r.d.errorf(pos, "multi-line parameter definition $%s is not supported", name)
		return true
	}
	if r.defs == nil {
		r.defs = map[string]string{}
	}
	r.defs[name] = value
	return true
}

func validParamName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isParamChar(name[i]) {
			return false
		}
	}
	return true
}

func isParamChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// substitute replaces $NAME (followed by whitespace or the end of the line)
// and ${NAME} until nothing changes; undefined names stay as written, as in
// keepalived, so '$' in scripts survives.
func (r *reader) substitute(s string, top *frame, pos Pos) string {
	for range maxSubstPasses {
		out, changed := r.substituteOnce(s, top, pos)
		if len(out) > maxLineLen {
			r.d.errorf(pos, "line longer than %d bytes after parameter substitution", maxLineLen)
			return ""
		}
		if !changed {
			return out
		}
		s = out
	}
	r.d.errorf(pos, "parameter substitution does not terminate after %d passes", maxSubstPasses)
	return ""
}

func (r *reader) substituteOnce(s string, top *frame, pos Pos) (string, bool) {
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); i++ {
		// Stop growing at the limit: each pass can multiply the length.
		if b.Len() > maxLineLen {
			return b.String(), true
		}
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := r.param(name, top, pos); ok {
				b.WriteString(v)
				changed = true
				i += 2 + end
				continue
			}
			b.WriteByte(s[i])
			continue
		}
		j := i + 1
		for j < len(s) && isParamChar(s[j]) {
			j++
		}
		if j < len(s) && s[j] != ' ' && s[j] != '\t' {
			b.WriteByte(s[i])
			continue
		}
		if v, ok := r.defs[s[i+1:j]]; ok && validParamName(s[i+1:j]) {
			b.WriteString(v)
			changed = true
			i = j - 1
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), changed
}

func (r *reader) param(name string, top *frame, pos Pos) (string, bool) {
	if v, ok := r.defs[name]; ok {
		return v, true
	}
	switch {
	case name == "_PWD":
		return top.dir, true
	case name == "_INSTANCE":
		return r.configID, true
	case name == "_HASH":
		return "#", true
	case name == "_BANG":
		return "!", true
	case strings.HasPrefix(name, "_ENV "):
		v, _ := r.lookup(strings.TrimSpace(name[len("_ENV "):]))
		return v, true
	case strings.HasPrefix(name, "_RANDOM"):
		r.d.errorf(pos, "${_RANDOM} is not supported: it makes the configuration differ between reads")
		return "", true
	}
	return "", false
}

// include reads the files a pattern names, relative to the including file.
func (r *reader) include(top *frame, pattern string, pos Pos) {
	pattern = strings.Trim(pattern, `"`)
	if pattern == "" {
		r.d.errorf(pos, "include without a file name")
		return
	}
	alts := expandBraces(pattern, maxBraceAlternatives)
	if alts == nil {
		r.d.errorf(pos, "include %q: more than %d brace alternatives", pattern, maxBraceAlternatives)
		return
	}
	var names []string
	for _, alt := range alts {
		full := r.fsys.join(top.dir, alt)
		if !hasGlobMeta(alt) {
			names = append(names, full)
			continue
		}
		matches, err := r.fsys.glob(full)
		if err != nil {
			r.d.errorf(pos, "include %q: %v", pattern, err)
			continue
		}
		if len(matches) == 0 {
			r.d.warnf(pos, "include %q matches no file", alt)
		}
		names = append(names, matches...)
	}
	var frames []*frame
	for _, name := range names {
		if top.depth >= r.maxDepth {
			r.d.errorf(pos, "include %s: nesting deeper than %d files", name, r.maxDepth)
			return
		}
		if len(r.files) >= maxFiles {
			r.d.errorf(pos, "include %s: more than %d files in total", name, maxFiles)
			return
		}
		// Only files being read count: a later sibling of the same include
		// is still waiting on the stack, and including it is no cycle.
		key := r.fsys.key(name)
		if i := slices.IndexFunc(r.stack, func(f *frame) bool { return f.key == key && f.next > 0 }); i >= 0 {
			var chain []string
			for _, f := range r.stack[i:] {
				if f.next > 0 {
					chain = append(chain, f.name)
				}
			}
			r.d.errorf(pos, "include cycle: %s -> %s", strings.Join(chain, " -> "), name)
			continue
		}
		data, err := r.fsys.readFile(name)
		if err != nil {
			r.d.errorf(pos, "include %s: %v", name, cleanFSError(err))
			continue
		}
		frames = append(frames, r.newFrame(name, data, top.depth+1))
	}
	// Included files are read one after the other, not nested in each other:
	// stack them so the first is on top.
	for i := len(frames) - 1; i >= 0; i-- {
		r.stack = append(r.stack, frames[i])
	}
}

func cleanFSError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func hasGlobMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// expandBraces expands csh-style {a,b} alternatives, nested or not, as
// glob(3) with GLOB_BRACE does. It returns nil beyond limit results.
func expandBraces(s string, limit int) []string {
	open := -1
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				open = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth > 0 {
				continue
			}
			var parts []string
			start, d := open+1, 0
			for j := open + 1; j < i; j++ {
				switch s[j] {
				case '\\':
					j++
				case '{':
					d++
				case '}':
					d--
				case ',':
					if d == 0 {
						parts = append(parts, s[start:j])
						start = j + 1
					}
				}
			}
			parts = append(parts, s[start:i])
			var out []string
			for _, p := range parts {
				more := expandBraces(s[:open]+p+s[i+1:], limit-len(out))
				if more == nil || len(out)+len(more) > limit {
					return nil
				}
				out = append(out, more...)
			}
			return out
		}
	}
	return []string{s}
}

// split cuts a line at braces outside double quotes and tokenizes the rest.
func (r *reader) split(out []line, s string, pos Pos) []line {
	switch {
	case s == "}":
		return append(out, line{pos: pos, kind: lineClose})
	case !strings.ContainsAny(s, "{}\""):
		// Most lines: one statement of plain words.
		return append(out, line{pos: pos, kind: lineWords, words: fields(s)})
	}
	start, quote := 0, false
	flush := func(end int) {
		if seg := strings.TrimSpace(s[start:end]); seg != "" {
			words, ok := splitWords(seg)
			if !ok {
				r.d.errorf(pos, "unterminated quote in %q", seg)
			}
			if len(words) > 0 {
				out = append(out, line{pos: pos, kind: lineWords, words: words})
			}
		}
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			quote = !quote
		case !quote && (c == '{' || c == '}'):
			flush(i)
			kind := lineOpen
			if c == '}' {
				kind = lineClose
			}
			out = append(out, line{pos: pos, kind: kind})
			start = i + 1
		}
	}
	flush(len(s))
	return out
}

// splitWords splits at blanks; double quotes group (and are removed), as
// keepalived's parser does. Backslashes and single quotes stay literal here:
// scripts split their own string later (see splitScript).
func splitWords(s string) ([]string, bool) {
	if !strings.Contains(s, `"`) {
		return fields(s), true
	}
	var words []string
	var b strings.Builder
	in, quote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			quote = !quote
			in = true
		case !quote && isBlank(rune(c)):
			if in {
				words = append(words, b.String())
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, b.String())
	}
	return words, !quote
}

// fields splits s at blanks (isBlank), counting the words first so that
// the slice is allocated once.
func fields(s string) []string {
	n, in := 0, false
	for i := 0; i < len(s); i++ {
		b := isBlank(rune(s[i]))
		if !b && !in {
			n++
		}
		in = !b
	}
	out := make([]string, 0, n)
	start := -1
	for i := 0; i < len(s); i++ {
		if isBlank(rune(s[i])) {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

func isBlank(c rune) bool { return c == ' ' || c == '\t' || c == '\v' || c == '\f' }
