package kba

import (
	"strings"
)

// ParseKeypadDigits checks a keypad answer of exactly n digits (SSN last
// four, a one-time code) and returns it. Errors: ErrEmpty, ErrUnparsable for
// a non-digit, ErrWrongLength.
func ParseKeypadDigits(digits string, n int) (string, error) {
	switch {
	case digits == "":
		return "", newError("keypad digits", "", ErrEmpty)
	case !allDigits(digits):
		return "", newError("keypad digits", "", ErrUnparsable)
	case len(digits) != n:
		return "", newError("keypad digits", countDetail(len(digits), n, "digits"), ErrWrongLength)
	}
	return digits, nil
}

// ParseSpokenDigits reads exactly n digits from a speech transcript: "one two
// three four", "twelve thirty four", "1 2 3 4", "12 34", "one thousand two
// hundred thirty four", "double five", "oh" for zero, "uno dos tres cuatro",
// "doce treinta y cuatro". Words are read left to right and each spoken number
// contributes its digits. What recognisers write for digits counts too: "to"
// and "too" for two, "for" for four, "ate" for eight, "won" for one, "cuarto"
// for cuatro. A self-correction keeps the last answer ("0 9 1 2 sorry 0 9 1
// 3"); a repeat separated by punctuation or "again" is the answer once;
// requests for a person are never an answer. Errors: ErrEmpty, ErrUnparsable
// (a word that is not a number, two different answers), ErrWrongLength.
func ParseSpokenDigits(text string, lang Lang, n int) (string, error) {
	if strings.TrimSpace(text) == "" {
		return "", newError("spoken digits", "", ErrEmpty)
	}
	f, ok := fold(text)
	if !ok {
		return "", newError("spoken digits", "", ErrUnparsable)
	}
	var ts tokens
	if !tokenize(f, &ts) {
		return "", newError("spoken digits", "", ErrUnparsable)
	}
	if personTokens(&ts) {
		return "", newError("spoken digits", "asked for a person", ErrUnparsable)
	}
	if _, ok := answerTokens(&ts, lang); !ok {
		return "", newError("spoken digits", "correction without an answer", ErrUnparsable)
	}
	v, fail := digitsRange(&ts, 0, ts.n, lang, n)
	if fail.err == nil {
		return string(v.d[:v.n]), nil
	}
	var cuts [maxCuts]int
	if nc, ok := cutsAt(&ts, &cuts, nil); ok && nc > 0 {
		rv, ok := repeated(cuts[:nc], ts.n, func(a, b int) (digitsValue, bool) {
			v, fail := digitsRange(&ts, a, b, lang, n)
			return v, fail.err == nil
		})
		if ok {
			return string(rv.d[:rv.n]), nil
		}
	}
	detail := fail.detail
	if fail.err == ErrWrongLength {
		detail = countDetail(fail.got, n, "digits")
	}
	return "", newError("spoken digits", detail, fail.err)
}

// digitsValue is the digits one part of a transcript reads as.
type digitsValue struct {
	d [maxDigits]byte
	n int
}

// parseFail says why a part of a transcript did not read: a sentinel and a
// detail free of the caller's input.
type parseFail struct {
	detail string
	got    int // digits read, for ErrWrongLength
	err    error
}

// digitsRange reads ts.t[from:to] as exactly n digits.
func digitsRange(ts *tokens, from, to int, lang Lang, n int) (digitsValue, parseFail) {
	var q seq
	s := scanner{q: &q, lang: lang}
	for i := from; i < to; i++ {
		t := ts.t[i]
		if t.num {
			if t.ord {
				return digitsValue{}, parseFail{detail: "ordinal", err: ErrUnparsable}
			}
			s.digits(t)
			if s.err {
				return digitsValue{}, parseFail{err: ErrUnparsable}
			}
			continue
		}
		// "the last four (digits)", "los últimos cuatro": the question, not the answer.
		if (t.s == "last" || t.s == "ultimos") && i+1 < to && countWord(ts.t[i+1].s) {
			i++
			continue
		}
		w := lookup(t.s, lang, true)
		switch w.k {
		case kNone, kMonth, kOrdUnit, kOrd:
			return digitsValue{}, parseFail{detail: "not a number", err: ErrUnparsable}
		}
		s.number(w)
		if s.err {
			return digitsValue{}, parseFail{err: ErrUnparsable}
		}
	}
	if !s.finish() {
		return digitsValue{}, parseFail{err: ErrUnparsable}
	}
	if q.n != n {
		return digitsValue{}, parseFail{got: q.n, err: ErrWrongLength}
	}
	v := digitsValue{n: q.n}
	copy(v.d[:], q.d[:q.n])
	return v, parseFail{}
}

func countWord(s string) bool {
	switch s {
	case "4", "6", "four", "six", "cuatro", "seis":
		return true
	}
	return false
}
