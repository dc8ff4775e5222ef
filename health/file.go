package health

import (
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// FileFaultBelow is the lowest product of file value and weight that File still
// reports up: keepalived puts a VRRP instance in fault below -253.
const FileFaultBelow = -253

// File reads a number from a file that another program writes (keepalived's
// track_file and FILE_CHECK). With Weight 0 the value 0 is up and any other value
// down. Otherwise the value is multiplied by Weight (negated by Reverse) and the
// result is up unless it is below FileFaultBelow; with Dynamic the product is
// reported as Result.Weight (FILE_CHECK dynamic), clamped at 0.
//
// keepalived re-reads the file when inotify reports a change; File reads it on
// every probe, so changes are seen within one interval. A missing, unreadable or
// non-numeric file is down (keepalived would read it as 0); create the file
// first, as keepalived's init_file does, if that is what you want.
type File struct {
	// Path is the file (file).
	Path string
	// Weight multiplies the value (weight); 0 makes the file a plain up/down flag.
	Weight int
	// Reverse negates Weight (weight ... reverse).
	Reverse bool
	// Dynamic reports the product as the weight.
	Dynamic bool
}

// fileReadLimit is how much of the file is read, as keepalived reads a short
// line; a huge file cannot stall a probe.
const fileReadLimit = 128

// Probe reads the file.
func (f File) Probe(ctx context.Context) Result {
	start := time.Now()
	fh, err := os.Open(f.Path)
	if err != nil {
		return down(start, "file: %v", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, fileReadLimit))
	if err != nil {
		return down(start, "file: %v", err)
	}
	text := strings.TrimSpace(string(b))
	if i := strings.IndexAny(text, " \t\r\n"); i >= 0 {
		text = text[:i]
	}
	value, err := strconv.Atoi(text)
	if err != nil {
		return down(start, "file: %s: %q is not a number", f.Path, text)
	}
	if f.Weight == 0 {
		if value != 0 {
			return down(start, "file: %s holds %d", f.Path, value)
		}
		return up(start, NoWeight, "file: %s holds 0", f.Path)
	}
	weight := f.Weight
	if f.Reverse {
		weight = -weight
	}
	product := value * weight
	if product < FileFaultBelow {
		return down(start, "file: %s holds %d, times weight %d is %d (below %d)", f.Path, value, weight, product, FileFaultBelow)
	}
	w := NoWeight
	if f.Dynamic {
		w = max(product, 0)
	}
	return up(start, w, "file: %s holds %d, times weight %d is %d", f.Path, value, weight, product)
}
