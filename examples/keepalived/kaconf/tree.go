package kaconf

// stmt is one statement: a keyword, its arguments, and the block that
// followed it, if any.
type stmt struct {
	pos      Pos
	words    []string
	hasBlock bool
	block    []*stmt
}

func (s *stmt) kw() string     { return s.words[0] }
func (s *stmt) args() []string { return s.words[1:] }

// buildTree reads every line and nests blocks. A '{' belongs to the
// statement on the line before it (keepalived accepts the brace on either
// line); a '{' after anything else is reported and its block dropped.
func buildTree(r *reader, d *diagSink) []*stmt {
	return buildBlock(r, d, 0, Pos{})
}

func buildBlock(r *reader, d *diagSink, depth int, open Pos) []*stmt {
	var out []*stmt
	var last *stmt // the statement a following '{' would belong to
	for {
		l, ok := r.next()
		if !ok {
			if depth > 0 {
				d.errorf(open, "block opened here is missing its '}'")
			}
			return out
		}
		switch l.kind {
		case lineWords:
			last = r.newStmt(l)
			out = append(out, last)
			continue
		case lineClose:
			if depth == 0 {
				d.errorf(l.pos, "unexpected '}'")
				break
			}
			return out
		case lineOpen:
			if depth >= maxBlockDepth {
				d.errorf(l.pos, "blocks nested deeper than %d", maxBlockDepth)
				skipBlock(r)
				break
			}
			if last == nil {
				d.errorf(l.pos, "unexpected '{' without a keyword before it")
				buildBlock(r, d, depth+1, l.pos)
				break
			}
			last.hasBlock = true
			last.block = buildBlock(r, d, depth+1, l.pos)
		}
		last = nil
	}
}

// newStmt allocates statements in batches: a large file has one per line.
func (r *reader) newStmt(l line) *stmt {
	if len(r.slab) == 0 {
		r.slab = make([]stmt, 256)
	}
	st := &r.slab[0]
	r.slab = r.slab[1:]
	st.pos, st.words = l.pos, l.words
	return st
}

func skipBlock(r *reader) {
	for depth := 1; depth > 0; {
		l, ok := r.next()
		if !ok {
			return
		}
		switch l.kind {
		case lineOpen:
			depth++
		case lineClose:
			depth--
		}
	}
}
