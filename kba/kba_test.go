package kba

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ivr-gateway/ivr/internal/testlog"
)

func TestValidateDOB(t *testing.T) {
	t.Parallel()
	now := corpusNow // 2026-11-25
	tests := []struct {
		name string
		d    Date
		want error
	}{
		{"ordinary", Date{1980, time.January, 5}, nil},
		{"leap day in a leap year", Date{2024, time.February, 29}, nil},
		{"leap day in a century leap year", Date{2000, time.February, 29}, nil},
		{"leap day in a century non-leap year", Date{1900, time.February, 29}, ErrImpossibleDate},
		{"leap day in a common year", Date{2023, time.February, 29}, ErrImpossibleDate},
		{"February 30", Date{1980, time.February, 30}, ErrImpossibleDate},
		{"April 31", Date{1980, time.April, 31}, ErrImpossibleDate},
		{"December 31", Date{1980, time.December, 31}, nil},
		{"day 0", Date{1980, time.January, 0}, ErrImpossibleDate},
		{"day 32", Date{1980, time.January, 32}, ErrImpossibleDate},
		{"month 0", Date{1980, 0, 5}, ErrImpossibleDate},
		{"month 13", Date{1980, 13, 5}, ErrImpossibleDate},
		{"zero date", Date{}, ErrImpossibleDate},
		{"negative year", Date{-5, time.January, 1}, ErrImpossibleDate},
		{"born today", Date{2026, time.November, 25}, nil},
		{"tomorrow", Date{2026, time.November, 26}, ErrFutureDate},
		{"next year", Date{2027, time.January, 1}, ErrFutureDate},
		{"far future", Date{9999, time.December, 31}, ErrFutureDate},
		{"exactly 130 today", Date{1896, time.November, 25}, nil},
		{"129, 130 tomorrow", Date{1896, time.November, 26}, nil},
		{"130 and a day", Date{1896, time.November, 24}, nil},
		{"130, 131 tomorrow", Date{1895, time.November, 26}, nil},
		{"131", Date{1895, time.November, 25}, ErrTooOld},
		{"leap-day birthday, 130", Date{1896, time.February, 29}, nil},
		{"year 1", Date{1, time.January, 1}, ErrTooOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateDOB(tt.d, now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Errorf("ValidateDOB(%s) = %v, want %v", tt.d.ISO(), err, tt.want)
			}
		})
	}
}

// TestValidateDOBLocalDay checks that "today" is the day of now in now's own
// location: at 01:00 UTC on the 26th it is still the 25th in California.
func TestValidateDOBLocalDay(t *testing.T) {
	t.Parallel()
	pst := time.FixedZone("PST", -8*3600)
	now := time.Date(2026, time.November, 26, 1, 0, 0, 0, time.UTC).In(pst)
	if err := ValidateDOB(Date{2026, time.November, 26}, now); !errors.Is(err, ErrFutureDate) {
		t.Errorf("got %v, want ErrFutureDate", err)
	}
	if err := ValidateDOB(Date{2026, time.November, 26}, now.UTC()); err != nil {
		t.Errorf("in UTC: got %v, want nil", err)
	}
}

func TestParseKeypadDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		err  error
	}{
		{"01051980", "1980-01-05", nil},
		{"12311999", "1999-12-31", nil},
		{"02292000", "2000-02-29", nil},
		{"11252026", "2026-11-25", nil},
		{"", "", ErrEmpty},
		{"0105198", "", ErrWrongLength},
		{"010519800", "", ErrWrongLength},
		{"1980", "", ErrWrongLength},
		{"0105198a", "", ErrUnparsable},
		{"01 05 1980", "", ErrUnparsable},
		{"0105198#", "", ErrUnparsable},
		{"02301980", "", ErrImpossibleDate},
		{"02291900", "", ErrImpossibleDate},
		{"13011980", "", ErrImpossibleDate},
		{"00001980", "", ErrImpossibleDate},
		{"19800105", "", ErrImpossibleDate}, // YYYYMMDD is not the keypad order
		{"11262026", "", ErrFutureDate},
		{"01011890", "", ErrTooOld},
	}
	for _, tt := range tests {
		d, err := ParseKeypadDate(tt.in, corpusNow)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseKeypadDate(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && d.ISO() != tt.want {
			t.Errorf("ParseKeypadDate(%q) = %s, want %s", tt.in, d.ISO(), tt.want)
		}
	}
}

func TestParseKeypadDigits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want string
		err  error
	}{
		{"1234", 4, "1234", nil},
		{"0000", 4, "0000", nil},
		{"123456", 6, "123456", nil},
		{"", 4, "", ErrEmpty},
		{"123", 4, "", ErrWrongLength},
		{"12345", 4, "", ErrWrongLength},
		{"12a4", 4, "", ErrUnparsable},
		{"12*4", 4, "", ErrUnparsable},
		{"１２３４", 4, "", ErrUnparsable}, // full-width digits are not keypad digits
	}
	for _, tt := range tests {
		got, err := ParseKeypadDigits(tt.in, tt.n)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || got != tt.want {
			t.Errorf("ParseKeypadDigits(%q, %d) = %q, %v; want %q, %v", tt.in, tt.n, got, err, tt.want, tt.err)
		}
	}
}

func TestParseISODate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in  string
		err error
	}{
		{"1980-01-05", nil},
		{"2000-02-29", nil},
		{"2100-01-01", nil}, // not a DOB check
		{"", ErrEmpty},
		{"1980-1-5", ErrUnparsable},
		{"1980/01/05", ErrUnparsable},
		{"01-05-1980", ErrUnparsable},
		{"1980-01-05T00:00:00Z", ErrUnparsable},
		{"198a-01-05", ErrUnparsable},
		{"1900-02-29", ErrImpossibleDate},
		{"1980-13-01", ErrImpossibleDate},
		{"1980-00-10", ErrImpossibleDate},
		{"0000-01-01", ErrImpossibleDate},
	}
	for _, tt := range tests {
		d, err := ParseISODate(tt.in)
		if !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("ParseISODate(%q) error = %v, want %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && d.ISO() != tt.in {
			t.Errorf("ParseISODate(%q).ISO() = %q", tt.in, d.ISO())
		}
	}
}

func TestSpeakDate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    Date
		lang Lang
		want string
	}{
		{Date{1980, time.January, 5}, English, "January fifth, nineteen eighty"},
		{Date{1905, time.March, 12}, English, "March twelfth, nineteen oh five"},
		{Date{1900, time.December, 1}, English, "December first, nineteen hundred"},
		{Date{2000, time.February, 29}, English, "February twenty-ninth, two thousand"},
		{Date{2005, time.August, 9}, English, "August ninth, two thousand five"},
		{Date{2010, time.October, 10}, English, "October tenth, twenty ten"},
		{Date{1955, time.October, 31}, English, "October thirty-first, nineteen fifty-five"},
		{Date{1988, time.June, 20}, English, "June twentieth, nineteen eighty-eight"},
		{Date{1963, time.November, 22}, English, "November twenty-second, nineteen sixty-three"},
		{Date{1980, time.January, 5}, Spanish, "cinco de enero de mil novecientos ochenta"},
		{Date{1990, time.May, 1}, Spanish, "primero de mayo de mil novecientos noventa"},
		{Date{1988, time.June, 21}, Spanish, "veintiuno de junio de mil novecientos ochenta y ocho"},
		{Date{1955, time.October, 31}, Spanish, "treinta y uno de octubre de mil novecientos cincuenta y cinco"},
		{Date{2005, time.August, 9}, Spanish, "nueve de agosto de dos mil cinco"},
		{Date{2000, time.February, 29}, Spanish, "veintinueve de febrero de dos mil"},
		{Date{1900, time.July, 16}, Spanish, "dieciséis de julio de mil novecientos"},
		{Date{2021, time.March, 3}, Spanish, "tres de marzo de dos mil veintiuno"},
		{Date{1980, time.February, 30}, English, ""},
	}
	for _, tt := range tests {
		if got := SpeakDate(tt.d, tt.lang); got != tt.want {
			t.Errorf("SpeakDate(%s, %s) = %q, want %q", tt.d.ISO(), tt.lang, got, tt.want)
		}
	}
}

// TestSpeakDateRoundTrip reads back every date of birth ValidateDOB accepts,
// in both languages, and parses the read-back: the parser must understand
// our own prompt, unambiguously.
func TestSpeakDateRoundTrip(t *testing.T) {
	t.Parallel()
	start := time.Date(1896, time.November, 25, 0, 0, 0, 0, time.UTC)
	step := 1
	if testing.Short() {
		step = 7
	}
	for tm := start; !tm.After(corpusNow); tm = tm.AddDate(0, 0, step) {
		d := Date{tm.Year(), tm.Month(), tm.Day()}
		for _, lang := range []Lang{English, Spanish} {
			s := SpeakDate(d, lang)
			r, err := ParseSpokenDate(s, lang, corpusNow)
			if err != nil || r.Date != d || r.Confirm {
				t.Fatalf("%s %s: %q parsed as %s confirm=%v, %v", lang, d.ISO(), s, r.Date.ISO(), r.Confirm, err)
			}
		}
	}
}

func TestParseSpokenDateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		lang Lang
		want error
	}{
		{"", English, ErrEmpty},
		{"   ", Spanish, ErrEmpty},
		{"banana", English, ErrUnparsable},
		{"February thirtieth nineteen eighty", English, ErrImpossibleDate},
		{"January fifth twenty thirty", English, ErrFutureDate},
		{"January first eighteen ninety", English, ErrTooOld},
		{strings.Repeat("one ", 200), English, ErrUnparsable},
		{strings.Repeat("1", 100), English, ErrUnparsable},
	}
	for _, tt := range tests {
		_, err := ParseSpokenDate(tt.in, tt.lang, corpusNow)
		if !errors.Is(err, tt.want) {
			t.Errorf("ParseSpokenDate(%.20q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestParseSpokenDigitsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		n    int
		want error
	}{
		{"", 4, ErrEmpty},
		{"one two three", 4, ErrWrongLength},
		{"one two three four five", 4, ErrWrongLength},
		{"one two three four", 6, ErrWrongLength},
		{"one two three banana", 4, ErrUnparsable},
		{"one two three fourth", 4, ErrUnparsable},
		{strings.Repeat("nine ", 30), 4, ErrUnparsable},
	}
	for _, tt := range tests {
		_, err := ParseSpokenDigits(tt.in, English, tt.n)
		if !errors.Is(err, tt.want) {
			t.Errorf("ParseSpokenDigits(%.20q, %d) = %v, want %v", tt.in, tt.n, err, tt.want)
		}
	}
}

// TestErrorsOmitInput checks that no error message repeats what the caller
// said: errors end up in logs.
func TestErrorsOmitInput(t *testing.T) {
	t.Parallel()
	const secret = "7391"
	errs := []error{}
	add := func(_ any, err error) { errs = append(errs, err) }
	add(ParseKeypadDate("1231"+secret, corpusNow))
	add(ParseKeypadDate(secret, corpusNow))
	add(ParseKeypadDigits(secret+"5", 4))
	add(ParseKeypadDigits("73x91", 4))
	add(ParseSpokenDigits("seven three nine one five", English, 4))
	add(ParseSpokenDigits("7391 banana", English, 4))
	add(ParseSpokenDate("December 31st "+secret, English, corpusNow))
	add(ParseSpokenDate("banana "+secret, English, corpusNow))
	add(ParseSpokenName("Zyxw "+secret, English))
	add(ParseSpelling("Z Y X W "+secret, English))
	add(ParseISODate(secret + "-02-30"))
	add(ParseSpokenDigits(secret+", "+"7392", English, 4))
	add(ParseSpokenDigits(secret+" sorry", English, 4))
	add(ParseSpokenDigits(secret+" banana sorry 12", English, 4))
	add(ParseSpokenDate("March 3rd "+secret+", no, banana", English, corpusNow))
	add(ParseSpokenDate(secret+"-02-30", English, corpusNow))
	add(ParseSpokenDate("January 5 1980 January 6 "+secret, English, corpusNow))
	add(ParseSpokenName("Zyxw Garcia, sorry", English))
	add(ParseSpokenName("Zyxw Garcia, agent", English))
	add(ParseSpelling("ZYXW banana", English))
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, secret) || strings.Contains(msg, "Zyxw") || strings.Contains(msg, "banana") {
			t.Errorf("case %d: error %q repeats the input", i, msg)
		}
		if !strings.HasPrefix(msg, "kba: ") || strings.Count(msg, "kba:") != 1 {
			t.Errorf("case %d: error %q lacks the package prefix", i, msg)
		}
	}
}

// TestRedaction checks that dates of birth and names never print their
// value through fmt verbs or slog, also when nested in other values.
func TestRedaction(t *testing.T) {
	t.Parallel()
	d := Date{1980, time.January, 5}
	n := Name{Given: "Maria", Family: "Garcia"}
	r := DateReading{Date: d, Confirm: true}
	nested := struct {
		DOB  Date
		Who  Name
		Read DateReading
		Ptr  *Name
	}{d, n, r, &n}
	secrets := []string{"1980", "Maria", "Garcia", "January"}

	var out strings.Builder
	for _, v := range []any{d, n, r, &d, &n, nested} {
		for _, verb := range []string{"%v", "%s", "%+v", "%#v"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	fmt.Fprintln(&out, d, n, r)
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime}), slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})} {
		l := slog.New(h)
		l.Info("answer", "dob", d, "name", n, "reading", r, "pdob", &d, "pname", &n)
		l.Info("group", slog.Group("kba", slog.Any("dob", d), slog.Any("name", n)))
		l.With("name", n).Info("with")
	}
	out.Write(buf.Bytes())
	got := out.String()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("output contains %q:\n%s", s, got)
		}
	}
	if !strings.Contains(got, redacted) {
		t.Errorf("output lacks %q:\n%s", redacted, got)
	}
}

func TestParseSpokenNameFields(t *testing.T) {
	t.Parallel()
	n, err := ParseSpokenName("my name is Maria Garcia", English)
	if err != nil || n.Given != "Maria" || n.Family != "Garcia" || n.Full() != "Maria Garcia" {
		t.Fatalf("got %q %q %v", n.Given, n.Family, err)
	}
	if _, err := ParseSpokenName("", English); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	if _, err := ParseSpokenName("Garcia", English); !errors.Is(err, ErrUnparsable) {
		t.Errorf("one word: %v", err)
	}
}

func TestDateISOAndZero(t *testing.T) {
	t.Parallel()
	if !(Date{}).IsZero() || (Date{1980, 1, 5}).IsZero() {
		t.Error("IsZero")
	}
	if got := (Date{805, time.March, 9}).ISO(); got != "0805-03-09" {
		t.Errorf("ISO = %q", got)
	}
}
