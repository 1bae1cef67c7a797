package kba

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func langOf(b bool) Lang {
	if b {
		return Spanish
	}
	return English
}

func FuzzParseSpokenDate(f *testing.F) {
	for _, s := range []string{
		"January fifth nineteen eighty", "one five eighty", "oh one oh five eighty", "1/5/1980",
		"01051980", "the 5th of January, 1980", "cinco de enero de mil novecientos ochenta",
		"el cinco de enero del ochenta", "twenty twenty double", "mil mil", "1º de mayo", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, es bool) {
		r, err := ParseSpokenDate(text, langOf(es), corpusNow)
		if err != nil {
			if r != (DateReading{}) {
				t.Errorf("error %v with a reading", err)
			}
			return
		}
		if verr := ValidateDOB(r.Date, corpusNow); verr != nil {
			t.Errorf("%q -> %s fails ValidateDOB: %v", text, r.Date.ISO(), verr)
		}
	})
}

func FuzzParseSpokenDigits(f *testing.F) {
	for _, s := range []string{
		"one two three four", "twelve thirty four", "1 2 3 4", "one thousand two hundred thirty four",
		"double five six seven", "triple nine triple eight", "doce treinta y cuatro", "last four 1234", "",
	} {
		f.Add(s, false, uint8(4))
		f.Add(s, true, uint8(6))
	}
	f.Fuzz(func(t *testing.T, text string, es bool, n uint8) {
		want := int(n%8) + 1
		got, err := ParseSpokenDigits(text, langOf(es), want)
		if err != nil {
			if got != "" {
				t.Errorf("error %v with digits", err)
			}
			return
		}
		if len(got) != want || !allDigits(got) {
			t.Errorf("%q -> %q, want %d ASCII digits", text, got, want)
		}
	})
}

func FuzzParseSpokenName(f *testing.F) {
	for _, s := range []string{
		"my name is Maria Garcia", "it's Sean O'Brien", "me llamo María García López", "soy Juan de la Cruz",
		"MARIA GARCIA", "'- -'", "a-'b c", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, es bool) {
		n, err := ParseSpokenName(text, langOf(es))
		if err != nil {
			if n != (Name{}) {
				t.Errorf("error %v with a name", err)
			}
			return
		}
		if n.Given == "" || n.Family == "" {
			t.Errorf("%q -> empty part %q|%q", text, n.Given, n.Family)
		}
		if !utf8.ValidString(n.Given) || !utf8.ValidString(n.Family) {
			t.Errorf("%q -> invalid UTF-8", text)
		}
	})
}

func FuzzParseKeypadDate(f *testing.F) {
	for _, s := range []string{"01051980", "02292000", "02301980", "12312030", "0105198", "", "abcdefgh"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, digits string) {
		d, err := ParseKeypadDate(digits, corpusNow)
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrUnparsable) && !errors.Is(err, ErrWrongLength) &&
				!errors.Is(err, ErrImpossibleDate) && !errors.Is(err, ErrFutureDate) && !errors.Is(err, ErrTooOld) {
				t.Errorf("%q: error %v is no sentinel", digits, err)
			}
			return
		}
		if verr := ValidateDOB(d, corpusNow); verr != nil {
			t.Errorf("%q -> %s fails ValidateDOB: %v", digits, d.ISO(), verr)
		}
		if len(digits) != 8 {
			t.Errorf("%q accepted with %d bytes", digits, len(digits))
		}
	})
}

func FuzzParseSpelling(f *testing.F) {
	for _, s := range []string{
		"G A R C I A", "Golf Alpha Romeo Charlie India Alpha", "G as in George A R", "O apostrophe B R I E N",
		"ge de gato a erre", "double double", "x ray", "de de de", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, es bool) {
		s, err := ParseSpelling(text, langOf(es))
		if err != nil {
			if s != "" {
				t.Errorf("error %v with a result", err)
			}
			return
		}
		if len(s) < 2 || len(s) > maxSpelled {
			t.Errorf("%q -> %q: length %d", text, s, len(s))
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == ' ' || c == '-' || c == '\'') {
				t.Errorf("%q -> %q: byte %q", text, s, c)
			}
		}
	})
}

// FuzzParseYesNo also covers ParseLanguageChoice: neither may panic.
func FuzzParseYesNo(f *testing.F) {
	for _, s := range []string{"yes", "no es correcto", "not sure", "español", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		ParseYesNo(text, English)
		ParseYesNo(text, Spanish)
		if l, ok := ParseLanguageChoice(text); ok != (l != "") {
			t.Errorf("%q -> %q, %v", text, l, ok)
		}
	})
}
