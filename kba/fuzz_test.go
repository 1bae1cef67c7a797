package kba

import (
	"errors"
	"strings"
	"testing"
	"unicode"
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
		"double five six seven", "triple nine triple eight", "doce treinta y cuatro", "last four 1234",
		"7 for 9 oh", "to ate six won", "0 9 1 2 sorry 0 9 1 3", "1234, 1234", "1234 I said 1234", "sero cuarto", "",
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
		"ge de gato a erre", "double double", "x ray", "de de de", "OKA F O R", "LIN D Q V I S T",
		"G A R C I A. G A R C I A.", "G A R C I A sorry G A R C E S", "I said", "otra vez", "MU Ñ O Z", "",
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

// FuzzNameHomophones: a name is never read as digits. Words that recognisers
// write for digits ("Won", "Tu", "Ate", "Fore") stay the words they are, and
// every word of a parsed name is a word the caller said.
func FuzzNameHomophones(f *testing.F) {
	for _, s := range []string{
		"Won Lee", "Tu Nguyen", "my name is Ate Fore", "Too Short", "Okafor, Won", "to for ate won", "Oh Won",
		"me llamo Sero Cuarto", "Maria Garcia, sorry, Won Tu", "Won Tu Won Tu", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, es bool) {
		n, err := ParseSpokenName(text, langOf(es))
		if err != nil {
			return
		}
		said := strings.FieldsFunc(text, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) && r != '\'' && r != '\u2019' && r != '-'
		})
		wasSaid := func(w string) bool {
			for _, s := range said {
				if strings.EqualFold(w, strings.Trim(s, "'\u2019-")) {
					return true
				}
			}
			return false
		}
		for _, part := range []string{n.Given, n.Family} {
			if strings.IndexFunc(part, unicode.IsDigit) >= 0 {
				t.Errorf("%q -> %q|%q: digits in a name", text, n.Given, n.Family)
			}
			for _, w := range strings.Fields(part) {
				if !wasSaid(w) {
					t.Errorf("%q -> %q|%q: %q was not said", text, n.Given, n.Family, w)
				}
			}
		}
	})
}

// FuzzSpokenDateGarbage: garbage never becomes a date. What is accepted is
// a possible date of birth; an unknown word after it makes it no answer
// (nothing is skipped); a year-first or ISO reading is always read back.
func FuzzSpokenDateGarbage(f *testing.F) {
	for _, s := range []string{
		"1971 March 13th", "nineteen seventy-one, March thirteenth", "1971-03-13", "19710313", "1971/3/13",
		"March 3rd 1971, no, March 13th 1971", "June 2 1950 June 2 1950", "oh won oh five ate oh",
		"1971, 13 de marzo", "2 de junio de 1950. Repito, 2 de junio de 1950.", "sorry", "1/5/1980, 1/6/1980",
		"9999-99-99", "0000-00-00", "1971-02-30", "a1b2c3", "--,,..", "",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, text string, es bool) {
		lang := langOf(es)
		r, err := ParseSpokenDate(text, lang, corpusNow)
		if err != nil {
			return
		}
		if verr := ValidateDOB(r.Date, corpusNow); verr != nil {
			t.Errorf("%q -> %s fails ValidateDOB: %v", text, r.Date.ISO(), verr)
		}
		if _, err := ParseSpokenDate(text+" qzxv", lang, corpusNow); err == nil {
			t.Errorf("%q accepted with an unknown word after it", text)
		}
		if len(text) == 10 && text[4] == '-' && text[7] == '-' && !r.Confirm {
			t.Errorf("%q -> %s without a read-back", text, r.Date.ISO())
		}
	})
}

// FuzzCorrections: whatever came before a correction word does not count.
// When both "x, sorry, a" and "a" are answers, they are the same answer.
func FuzzCorrections(f *testing.F) {
	for _, s := range [][2]string{
		{"0 9 1 2", "0 9 1 3"}, {"March 3rd 1971", "March 13th 1971"}, {"one two", "3 4 5 6"}, {"", "1234"},
		{"1234 no", "5678"}, {"1980", "January 5 1980, January 5 1980"}, {"agent", "1234"},
	} {
		f.Add(s[0], s[1], false)
		f.Add(s[0], s[1], true)
	}
	f.Fuzz(func(t *testing.T, x, a string, es bool) {
		lang := langOf(es)
		joined := x + ", sorry, " + a
		if v, err := ParseSpokenDigits(joined, lang, 4); err == nil {
			if w, err := ParseSpokenDigits(a, lang, 4); err == nil && v != w {
				t.Errorf("digits: %q -> %s but %q -> %s", joined, v, a, w)
			}
		}
		if v, err := ParseSpokenDate(joined, lang, corpusNow); err == nil {
			if !v.Confirm {
				t.Errorf("date: %q -> %s without a read-back", joined, v.Date.ISO())
			}
			if w, err := ParseSpokenDate(a, lang, corpusNow); err == nil && v.Date != w.Date {
				t.Errorf("date: %q -> %s but %q -> %s", joined, v.Date.ISO(), a, w.Date.ISO())
			}
		}
	})
}

// FuzzWantsPerson: rejects stay rejects. A transcript that asks for a
// person is never an answer to any question, and no input makes it panic.
func FuzzWantsPerson(f *testing.F) {
	for _, s := range []string{
		"agent", "I want to talk to someone", "representante", "hablar con una persona", "customer service",
		"OPERATOR", "G A R agent", "agent-smith", "Maria Garcia", "1234", "yes, an agent please", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !WantsPerson(text, English) {
			return
		}
		for _, lang := range []Lang{English, Spanish} {
			if v, err := ParseSpokenDigits(text, lang, 4); err == nil {
				t.Errorf("%q: digits %s", text, v)
			}
			if _, err := ParseSpokenDate(text, lang, corpusNow); err == nil {
				t.Errorf("%q: a date", text)
			}
			if _, err := ParseSpokenName(text, lang); err == nil {
				t.Errorf("%q: a name", text)
			}
			if _, err := ParseSpelling(text, lang); err == nil {
				t.Errorf("%q: a spelling", text)
			}
			if _, ok := ParseYesNo(text, lang); ok {
				t.Errorf("%q: a yes or no", text)
			}
		}
		if _, ok := ParseLanguageChoice(text); ok {
			t.Errorf("%q: a language", text)
		}
	})
}
