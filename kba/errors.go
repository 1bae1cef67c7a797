package kba

import "strings"

// Error is the error every parser returns: what was being parsed (Op), an
// optional detail that never contains the caller's input, and the sentinel
// (ErrUnparsable, ErrFutureDate, ...) to check with errors.Is.
type Error struct {
	Op     string // "spoken date", "keypad digits", ...
	Detail string // e.g. "5 digits, want 4"; never the input
	Err    error
}

func newError(op, detail string, err error) error {
	return &Error{Op: op, Detail: detail, Err: err}
}

// Error returns "kba: <op>[: <detail>]: <reason>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("kba: ")
	b.WriteString(e.Op)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(strings.TrimPrefix(e.Err.Error(), "kba: "))
	}
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// countDetail says how many of something there were: "5 digits, want 4".
func countDetail(got, want int, what string) string {
	var buf [40]byte
	b := itoa(buf[:0], got)
	b = append(b, ' ')
	b = append(b, what...)
	b = append(b, ", want "...)
	b = itoa(b, want)
	return string(b)
}
