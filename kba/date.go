package kba

import (
	"log/slog"
	"strings"
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

// DateReading is a parsed spoken date. Confirm is true when more than one
// reading was plausible (month/day order, how digits group) or the reading
// needed a guess such as the century of a two-digit year; the dialog then
// reads the date back (SpeakDate) and asks the caller to confirm.
type DateReading struct {
	Date    Date
	Confirm bool
}

// LogValue implements slog.LogValuer: the date is redacted, Confirm is kept.
func (r DateReading) LogValue() slog.Value {
	return slog.GroupValue(slog.String("date", redacted), slog.Bool("confirm", r.Confirm))
}

// maxCands bounds the readings collected for one transcript.
const maxCands = 16

type dateCands struct {
	c      [maxCands]Date
	n      int
	guess  bool  // the first reading needed a guess (two-digit year, non-locale order)
	valErr error // why the structurally possible readings were refused
}

func (dc *dateCands) add(d Date, guess bool) {
	for i := range dc.n {
		if dc.c[i] == d {
			return
		}
	}
	if dc.n == 0 {
		dc.guess = guess
	}
	if dc.n < maxCands {
		dc.c[dc.n] = d
		dc.n++
	}
}

// ParseSpokenDate parses a speech transcript of a date of birth:
// "January fifth nineteen eighty", "the 5th of January, 1980", "one five
// eighty", "oh one oh five eighty", "1/5/1980", "cinco de enero de mil
// novecientos ochenta", "el cinco de enero del ochenta". Numeric forms are
// month-first in English and day-first in Spanish; two-digit years resolve to
// the most recent year that is not in the future. The result passes
// ValidateDOB. Errors: ErrEmpty, ErrUnparsable, or ValidateDOB's errors when
// every reading was an impossible, future or too-old date.
func ParseSpokenDate(text string, lang Lang, now time.Time) (DateReading, error) {
	if strings.TrimSpace(text) == "" {
		return DateReading{}, newError("spoken date", "", ErrEmpty)
	}
	f, ok := fold(text)
	if !ok {
		return DateReading{}, newError("spoken date", "", ErrUnparsable)
	}
	var ts tokens
	if !tokenize(f, &ts) {
		return DateReading{}, newError("spoken date", "", ErrUnparsable)
	}
	month, mpos := 0, -1
	for i := range ts.n {
		t := &ts.t[i]
		if t.num {
			continue
		}
		w := lookup(t.s, lang, false)
		switch w.k {
		case kNone:
			return DateReading{}, newError("spoken date", "unknown word", ErrUnparsable)
		case kMonth:
			if mpos >= 0 {
				return DateReading{}, newError("spoken date", "two months", ErrUnparsable)
			}
			month, mpos = w.v, i
		}
	}
	var dc dateCands
	if mpos < 0 {
		var q seq
		if !scan(&ts, 0, ts.n, lang, &q) {
			return DateReading{}, newError("spoken date", "", ErrUnparsable)
		}
		numericDates(&q, lang, now, &dc)
	} else {
		var pre, post seq
		if !scan(&ts, 0, mpos, lang, &pre) || !scan(&ts, mpos+1, ts.n, lang, &post) {
			return DateReading{}, newError("spoken date", "", ErrUnparsable)
		}
		namedMonthDates(&pre, &post, time.Month(month), now, &dc)
	}
	if dc.n == 0 {
		if dc.valErr != nil {
			return DateReading{}, newError("spoken date", "", dc.valErr)
		}
		return DateReading{}, newError("spoken date", "", ErrUnparsable)
	}
	return DateReading{Date: dc.c[0], Confirm: dc.guess || dc.n > 1}, nil
}

// scan reads ts.t[from:to] (which holds no month) into q.
func scan(ts *tokens, from, to int, lang Lang, q *seq) bool {
	s := scanner{q: q, lang: lang}
	for i := from; i < to; i++ {
		t := ts.t[i]
		if t.num {
			s.digits(t)
		} else {
			s.number(lookup(t.s, lang, false))
		}
		if s.err {
			return false
		}
	}
	return s.finish()
}

// field returns q.d[a:b] as a number if it may be one date field: its ends are
// allowed cuts, no forced cut lies inside, and it is an ordinal only if
// ordOK.
func (q *seq) field(a, b int, ordOK bool) (int, bool) {
	if a >= b || !q.cutOK[a] || !q.cutOK[b] {
		return 0, false
	}
	for k := a + 1; k < b; k++ {
		if q.cutMust[k] {
			return 0, false
		}
	}
	if q.ord[a] && !ordOK {
		return 0, false
	}
	return atoi(q.d[a:b]), true
}

// year turns a spoken year field into a full year; two-digit years take the
// latest century that does not put the date after now.
func year(v, width int, m time.Month, day int, now time.Time) (int, bool) {
	if width == 4 {
		return v, false
	}
	y := 2000 + v
	ny, nm, nd := now.Date()
	if (Date{ny, nm, nd}).before(Date{y, m, day}) {
		y -= 100
	}
	return y, true
}

func (dc *dateCands) try(m, day, yv, yw int, now time.Time, guess bool) {
	if m < 1 || m > 12 || day < 1 || day > 31 {
		return
	}
	y, two := year(yv, yw, time.Month(m), day, now)
	d := Date{y, time.Month(m), day}
	if err := checkDOB(d, now); err != nil {
		if dc.valErr == nil {
			dc.valErr = err
		}
		return
	}
	dc.add(d, guess || two)
}

// numericDates collects the readings of an all-number date: two fields of
// one or two digits and a year of two or four, in the locale's order first
// (month-first for en-US, day-first for es-US), then the other order.
func numericDates(q *seq, lang Lang, now time.Time, dc *dateCands) {
	for pass := range 2 {
		monthFirst := (lang != Spanish) == (pass == 0)
		for _, yw := range [2]int{4, 2} {
			for l1 := 1; l1 <= 2; l1++ {
				l2 := q.n - yw - l1
				if l2 < 1 || l2 > 2 {
					continue
				}
				a, ok1 := q.field(0, l1, !monthFirst)
				b, ok2 := q.field(l1, l1+l2, monthFirst)
				y, ok3 := q.field(l1+l2, q.n, false)
				if !ok1 || !ok2 || !ok3 {
					continue
				}
				if monthFirst {
					dc.try(a, b, y, yw, now, pass == 1)
				} else {
					dc.try(b, a, y, yw, now, pass == 1)
				}
			}
		}
	}
}

// namedMonthDates collects readings when the month was said by name: "the
// fifth of January nineteen eighty" (day before, year after) or "January
// fifth nineteen eighty" (day and year after).
func namedMonthDates(pre, post *seq, m time.Month, now time.Time, dc *dateCands) {
	if pre.n > 0 {
		day, ok := pre.field(0, pre.n, true)
		// "del cinco" is 2005 the way "del ochenta" is 1980: after a day and
		// month, a lone digit is a two-digit year.
		if !ok || pre.n > 2 || post.n < 1 || post.n == 3 || post.n > 4 {
			return
		}
		y, ok := post.field(0, post.n, false)
		if !ok {
			return
		}
		dc.try(int(m), day, y, max(post.n, 2), now, false)
		return
	}
	for _, yw := range [2]int{4, 2} {
		ld := post.n - yw
		if ld < 1 || ld > 2 {
			continue
		}
		day, ok1 := post.field(0, ld, true)
		y, ok2 := post.field(ld, post.n, false)
		if ok1 && ok2 {
			dc.try(int(m), day, y, yw, now, false)
		}
	}
}
