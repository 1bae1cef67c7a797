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
// contributes its digits. Errors: ErrEmpty, ErrUnparsable (a word that is not
// a number), ErrWrongLength.
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
	var q seq
	s := scanner{q: &q, lang: lang}
	for i := 0; i < ts.n; i++ {
		t := ts.t[i]
		if t.num {
			if t.ord {
				return "", newError("spoken digits", "ordinal", ErrUnparsable)
			}
			s.digits(t)
			continue
		}
		// "the last four (digits)", "los últimos cuatro": the question, not the answer.
		if (t.s == "last" || t.s == "ultimos") && i+1 < ts.n && countWord(ts.t[i+1].s) {
			i++
			continue
		}
		w := lookup(t.s, lang, true)
		switch w.k {
		case kNone, kMonth, kOrdUnit, kOrd:
			return "", newError("spoken digits", "not a number", ErrUnparsable)
		}
		s.number(w)
		if s.err {
			return "", newError("spoken digits", "", ErrUnparsable)
		}
	}
	if !s.finish() {
		return "", newError("spoken digits", "", ErrUnparsable)
	}
	if q.n != n {
		return "", newError("spoken digits", countDetail(q.n, n, "digits"), ErrWrongLength)
	}
	return string(q.d[:q.n]), nil
}

func countWord(s string) bool {
	switch s {
	case "4", "6", "four", "six", "cuatro", "seis":
		return true
	}
	return false
}
