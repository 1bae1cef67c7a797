package kba

import (
	"log/slog"
	"strings"
	"time"
)

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
// the most recent year that is not in the future.
//
// Year-first dates ("1971 March 13th", "nineteen seventy-one, March
// thirteenth", "1971, 13 de marzo") and written ISO dates ("1971-03-13") are
// read where only one reading fits, always with Confirm set. Digit
// homophones ("to", "for", "won") count only in a date said as numbers. A
// self-correction keeps the last date ("March 3rd 1971, no, March 13th
// 1971", with Confirm set); the same date said twice is that date; two
// different dates, or a request for a person, are not an answer.
//
// The result passes ValidateDOB. Errors: ErrEmpty, ErrUnparsable, or
// ValidateDOB's errors when every reading was an impossible, future or
// too-old date.
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
	if personTokens(&ts) {
		return DateReading{}, newError("spoken date", "asked for a person", ErrUnparsable)
	}
	corrected, ok := answerTokens(&ts, lang)
	if !ok {
		return DateReading{}, newError("spoken date", "correction without an answer", ErrUnparsable)
	}
	r, fail := dateRange(&ts, 0, ts.n, lang, now)
	if fail.err == nil {
		r.Confirm = r.Confirm || corrected
		return r, nil
	}
	var cuts [maxCuts]int
	isMonth := func(t token) bool { return !t.num && lookup(t.s, lang, false).k == kMonth }
	if nc, ok := cutsAt(&ts, &cuts, isMonth); ok && nc > 0 {
		// Parts that read as the agreed date with a guess make it a guess;
		// parts of splits that did not agree say nothing about it.
		var guessed [4]Date
		ng := 0
		d, ok := repeated(cuts[:nc], ts.n, func(a, b int) (Date, bool) {
			r, fail := dateRange(&ts, a, b, lang, now)
			if fail.err == nil && r.Confirm {
				if ng < len(guessed) {
					guessed[ng] = r.Date
				}
				ng++
			}
			return r.Date, fail.err == nil
		})
		if ok {
			confirm := corrected || ng > len(guessed)
			for _, g := range guessed[:min(ng, len(guessed))] {
				confirm = confirm || g == d
			}
			return DateReading{Date: d, Confirm: confirm}, nil
		}
	}
	return DateReading{}, newError("spoken date", fail.detail, fail.err)
}

// dateRange reads ts.t[from:to] as one date of birth.
func dateRange(ts *tokens, from, to int, lang Lang, now time.Time) (DateReading, parseFail) {
	month, mpos, homophone := 0, -1, false
	for i := from; i < to; i++ {
		t := &ts.t[i]
		if t.num {
			continue
		}
		w := lookup(t.s, lang, false)
		switch w.k {
		case kNone:
			if lookup(t.s, lang, true).k == kNone {
				return DateReading{}, parseFail{detail: "unknown word", err: ErrUnparsable}
			}
			homophone = true
		case kMonth:
			if mpos >= 0 {
				return DateReading{}, parseFail{detail: "two months", err: ErrUnparsable}
			}
			month, mpos = w.v, i
		}
	}
	var dc dateCands
	switch {
	case mpos >= 0 && homophone:
		// "for" in "March for 1980" is no digit: homophones count only in a
		// date said as numbers, as on a keypad.
		return DateReading{}, parseFail{detail: "unknown word", err: ErrUnparsable}
	case mpos < 0:
		var q seq
		if !scan(ts, from, to, lang, homophone, &q) {
			return DateReading{}, parseFail{err: ErrUnparsable}
		}
		numericDates(&q, lang, now, &dc)
		if dc.n == 0 && writtenYearFirst(ts, from, to) {
			yearFirstDates(&q, now, &dc)
		}
	default:
		var pre, post seq
		if !scan(ts, from, mpos, lang, false, &pre) || !scan(ts, mpos+1, to, lang, false, &post) {
			return DateReading{}, parseFail{err: ErrUnparsable}
		}
		namedMonthDates(&pre, &post, time.Month(month), now, &dc)
	}
	if dc.n == 0 {
		if dc.valErr != nil {
			return DateReading{}, parseFail{err: dc.valErr}
		}
		return DateReading{}, parseFail{err: ErrUnparsable}
	}
	return DateReading{Date: dc.c[0], Confirm: dc.guess || dc.n > 1 || homophone}, parseFail{}
}

// scan reads ts.t[from:to] (which holds no month) into q; homophones says
// whether digit homophones count.
func scan(ts *tokens, from, to int, lang Lang, homophones bool, q *seq) bool {
	s := scanner{q: q, lang: lang}
	for i := from; i < to; i++ {
		t := ts.t[i]
		if t.num {
			s.digits(t)
		} else {
			s.number(lookup(t.s, lang, homophones))
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
	if pre.n >= 4 {
		yearFirstNamed(pre, post, m, now, dc)
		return
	}
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

// yearFirstNamed collects the year-first readings of a date with a month
// name: "1971 March 13th", "nineteen seventy-one, March thirteenth" (a
// four-digit year before the month, the day after), "1971, the 13th of
// March", "mil novecientos setenta y uno, trece de marzo" (year and day
// before). Only a four-digit year leads: "71 March 13" is no date. The
// reading is always confirmed: callers rarely say dates this way, and a
// read-back costs one turn.
func yearFirstNamed(pre, post *seq, m time.Month, now time.Time, dc *dateCands) {
	y, ok := pre.field(0, 4, false)
	if !ok {
		return
	}
	switch {
	case pre.n == 4 && post.n >= 1 && post.n <= 2:
		if day, ok := post.field(0, post.n, true); ok {
			dc.try(int(m), day, y, 4, now, true)
		}
	case pre.n > 4 && pre.n <= 6 && post.n == 0:
		if day, ok := pre.field(4, pre.n, true); ok {
			dc.try(int(m), day, y, 4, now, true)
		}
	}
}

// writtenYearFirst reports whether ts.t[from:to] is a date written year
// first, as some recognisers return it: "1971-03-13", "1971/3/13", "1971 03
// 13", "19710313". A spoken "nineteen seventy one three thirteen" is not:
// without a month name or written fields nothing marks the year as first.
func writtenYearFirst(ts *tokens, from, to int) bool {
	var nums [3]token
	n := 0
	for i := from; i < to; i++ {
		if !ts.t[i].num {
			continue
		}
		if n == len(nums) || ts.t[i].ord {
			return false
		}
		nums[n] = ts.t[i]
		n++
	}
	switch n {
	case 1:
		return len(nums[0].s) == 8
	case 3:
		return len(nums[0].s) == 4 && len(nums[1].s) <= 2 && len(nums[2].s) <= 2
	}
	return false
}

// yearFirstDates collects the readings of a written year-first date: year,
// month, day, as ISO 8601 orders them. They are always confirmed.
func yearFirstDates(q *seq, now time.Time, dc *dateCands) {
	y, ok := q.field(0, 4, false)
	if !ok {
		return
	}
	for l1 := 1; l1 <= 2; l1++ {
		l2 := q.n - 4 - l1
		if l2 < 1 || l2 > 2 {
			continue
		}
		m, ok1 := q.field(4, 4+l1, false)
		day, ok2 := q.field(4+l1, q.n, false)
		if ok1 && ok2 {
			dc.try(m, day, y, 4, now, true)
		}
	}
}
