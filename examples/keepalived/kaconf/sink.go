package kaconf

import "fmt"

type diagSink struct{ list Diagnostics }

func (d *diagSink) errorf(pos Pos, format string, a ...any) {
	d.list = append(d.list, Diagnostic{Pos: pos, Severity: Error, Msg: fmt.Sprintf(format, a...)})
}

func (d *diagSink) warnf(pos Pos, format string, a ...any) {
	d.list = append(d.list, Diagnostic{Pos: pos, Severity: Warning, Msg: fmt.Sprintf(format, a...)})
}
