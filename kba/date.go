package kba

import (
	"log/slog"
	"time"
)

// Date is a calendar date of birth. It is personal data: String and LogValue
// return "[redacted]"; use ISO for the wire form.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ISO returns the date as "YYYY-MM-DD", the form sent to the authorization
// server.
func (d Date) ISO() string {
	var b [10]byte
	put := func(i, w, v int) {
		for k := w - 1; k >= 0; k-- {
			b[i+k] = byte('0' + v%10)
			v /= 10
		}
	}
	y := d.Year
	if y < 0 || y > 9999 {
		y = 0
	}
	put(0, 4, y)
	b[4] = '-'
	put(5, 2, int(d.Month)%100)
	b[7] = '-'
	put(8, 2, d.Day%100)
	return string(b[:])
}

// IsZero reports whether d is the zero Date (no answer yet).
func (d Date) IsZero() bool { return d == Date{} }

// String returns "[redacted]" so a Date never reaches a log line by accident.
func (d Date) String() string { return redacted }

// GoString returns "[redacted]" so %#v redacts too.
func (d Date) GoString() string { return redacted }

// LogValue implements slog.LogValuer and redacts the date.
func (d Date) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON redacts: slog's JSON handler marshals nested values with
// encoding/json, bypassing LogValue. The wire form is ISO.
func (d Date) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

func (d Date) before(o Date) bool {
	if d.Year != o.Year {
		return d.Year < o.Year
	}
	if d.Month != o.Month {
		return d.Month < o.Month
	}
	return d.Day < o.Day
}

func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// valid reports whether d exists in the proleptic Gregorian calendar.
func (d Date) valid() bool {
	return d.Year >= 1 && d.Year <= 9999 && d.Month >= 1 && d.Month <= 12 && d.Day >= 1 && d.Day <= daysIn(d.Month, d.Year)
}

// ValidateDOB checks that d is a possible date of birth on the day of now (in
// now's location): a real calendar date (ErrImpossibleDate), not after today
// (ErrFutureDate), and an age of at most MaxAge completed years (ErrTooOld).
func ValidateDOB(d Date, now time.Time) error {
	if err := checkDOB(d, now); err != nil {
		return newError("date of birth", "", err)
	}
	return nil
}

// checkDOB is ValidateDOB returning the bare sentinel, so trying many
// readings of one transcript allocates nothing.
func checkDOB(d Date, now time.Time) error {
	if !d.valid() {
		return ErrImpossibleDate
	}
	ny, nm, nd := now.Date()
	if (Date{ny, nm, nd}).before(d) {
		return ErrFutureDate
	}
	age := ny - d.Year
	if nm < d.Month || nm == d.Month && nd < d.Day {
		age--
	}
	if age > MaxAge {
		return ErrTooOld
	}
	return nil
}

// ParseISODate parses "YYYY-MM-DD". It returns ErrUnparsable for another
// shape and ErrImpossibleDate for a date that does not exist; it does not
// check that the date is a plausible date of birth (see ValidateDOB).
func ParseISODate(s string) (Date, error) {
	if s == "" {
		return Date{}, newError("iso date", "", ErrEmpty)
	}
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !allDigits(s[:4]) || !allDigits(s[5:7]) || !allDigits(s[8:]) {
		return Date{}, newError("iso date", "", ErrUnparsable)
	}
	d := Date{atoiS(s[:4]), time.Month(atoiS(s[5:7])), atoiS(s[8:])}
	if !d.valid() {
		return Date{}, newError("iso date", "", ErrImpossibleDate)
	}
	return d, nil
}

// ParseKeypadDate parses a keypad date of birth: exactly eight digits,
// MMDDYYYY (the order the prompt asks for in both languages), then checks it
// with ValidateDOB.
func ParseKeypadDate(digits string, now time.Time) (Date, error) {
	switch {
	case digits == "":
		return Date{}, newError("keypad date", "", ErrEmpty)
	case !allDigits(digits):
		return Date{}, newError("keypad date", "", ErrUnparsable)
	case len(digits) != 8:
		return Date{}, newError("keypad date", countDetail(len(digits), 8, "digits"), ErrWrongLength)
	}
	d := Date{atoiS(digits[4:]), time.Month(atoiS(digits[:2])), atoiS(digits[2:4])}
	if err := checkDOB(d, now); err != nil {
		return Date{}, newError("keypad date", "", err)
	}
	return d, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func atoiS(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}
