package kba

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// corpusNow is the fixed "today" of the corpus: two-digit years and "not in
// the future" are judged against it.
var corpusNow = time.Date(2026, time.November, 25, 12, 0, 0, 0, time.UTC)

// corpusCase is one line of testdata/corpus/*.jsonl: a transcript as a
// recogniser delivers it and what the parser must make of it.
type corpusCase struct {
	// Cat is what the transcript tests: the shapes of issue 14 (homophone,
	// correction, repeat, year_first, surname_first, merged_letters,
	// person_request); lines without one are "clean" transcripts.
	Cat     string `json:"cat,omitempty"`
	Kind    string `json:"kind"` // date, digits4, digits6, name, spelling, yesno, language
	Lang    Lang   `json:"lang"`
	Text    string `json:"text"`
	Want    string `json:"want"`              // "reject", or the value: ISO date, digits, "Given|Family", "yes"/"no", a Lang
	Confirm *bool  `json:"confirm,omitempty"` // dates only: the expected DateReading.Confirm
	line    string
}

func loadCorpus(tb testing.TB) []corpusCase {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.jsonl"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus files: %v", err)
	}
	var cases []corpusCase
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for n := 1; sc.Scan(); n++ {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			var c corpusCase
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				tb.Fatalf("%s:%d: %v", f, n, err)
			}
			c.line = filepath.Base(f) + ":" + itoaS(n)
			cases = append(cases, c)
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			tb.Fatal(err)
		}
	}
	return cases
}

func itoaS(n int) string { return string(itoa(nil, n)) }

// run applies the parser for c.Kind and renders the result the way Want is
// written; confirm is set for dates.
func (c corpusCase) run() (got string, confirm bool) {
	switch c.Kind {
	case "date":
		r, err := ParseSpokenDate(c.Text, c.Lang, corpusNow)
		if err != nil {
			return "reject", false
		}
		return r.Date.ISO(), r.Confirm
	case "digits4", "digits6":
		n := 4
		if c.Kind == "digits6" {
			n = 6
		}
		d, err := ParseSpokenDigits(c.Text, c.Lang, n)
		if err != nil {
			return "reject", false
		}
		return d, false
	case "name":
		nm, err := ParseSpokenName(c.Text, c.Lang)
		if err != nil {
			return "reject", false
		}
		return nm.Given + "|" + nm.Family, false
	case "spelling":
		s, err := ParseSpelling(c.Text, c.Lang)
		if err != nil {
			return "reject", false
		}
		return s, false
	case "yesno":
		yes, ok := ParseYesNo(c.Text, c.Lang)
		switch {
		case !ok:
			return "reject", false
		case yes:
			return "yes", false
		}
		return "no", false
	case "language":
		l, ok := ParseLanguageChoice(c.Text)
		if !ok {
			return "reject", false
		}
		return string(l), false
	}
	return "unknown kind " + c.Kind, false
}

// category is the line's category, "clean" for the lines without one.
func (c corpusCase) category() string {
	if c.Cat == "" {
		return "clean"
	}
	return c.Cat
}

// corpusCategories are the categories a corpus line may name.
var corpusCategories = map[string]bool{"clean": true, "homophone": true, "correction": true, "repeat": true,
	"year_first": true, "surname_first": true, "merged_letters": true, "person_request": true}

// TestCorpus runs every corpus line and reports the accuracy per kind and
// language, and per category and language (go test -v ./kba -run TestCorpus).
// Every line must pass.
func TestCorpus(t *testing.T) {
	t.Parallel()
	cases := loadCorpus(t)
	type tally struct{ pass, total, rejects int }
	per := map[string]*tally{}
	count := func(key string, c corpusCase) *tally {
		if per[key] == nil {
			per[key] = &tally{}
		}
		tl := per[key]
		tl.total++
		if c.Want == "reject" {
			tl.rejects++
		}
		return tl
	}
	for _, c := range cases {
		if !corpusCategories[c.category()] {
			t.Errorf("%s: unknown category %q", c.line, c.Cat)
		}
		tl := count(c.Kind+" "+string(c.Lang), c)
		cl := count("cat "+c.category()+" "+string(c.Lang), c)
		got, confirm := c.run()
		ok := got == c.Want
		if ok && c.Confirm != nil && got != "reject" && confirm != *c.Confirm {
			ok = false
			got += " confirm=" + map[bool]string{true: "true", false: "false"}[confirm]
		}
		if !ok {
			t.Errorf("%s: %s %s %q: got %s, want %s", c.line, c.Kind, c.Lang, c.Text, got, c.Want)
			continue
		}
		tl.pass++
		cl.pass++
	}
	keys := make([]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pass := 0
	for _, k := range keys {
		tl := per[k]
		if !strings.HasPrefix(k, "cat ") {
			pass += tl.pass
		}
		t.Logf("%-26s %3d/%3d (%5.1f%%), %d rejects", k, tl.pass, tl.total, 100*float64(tl.pass)/float64(tl.total), tl.rejects)
	}
	t.Logf("%-26s %3d/%3d (%5.1f%%)", "all", pass, len(cases), 100*float64(pass)/float64(len(cases)))
	if len(cases) < 300 {
		t.Errorf("corpus has %d transcripts, want at least 300", len(cases))
	}
}

// BenchmarkCorpus parses every corpus transcript once per iteration and
// reports the time and allocations per transcript, for the whole corpus, per
// kind, and for the clean transcripts and the recogniser-shaped ones (lines
// with a category) apart.
func BenchmarkCorpus(b *testing.B) {
	all := loadCorpus(b)
	byKind := map[string][]corpusCase{"all": all}
	for _, c := range all {
		byKind[c.Kind] = append(byKind[c.Kind], c)
		if c.Cat == "" {
			byKind["clean"] = append(byKind["clean"], c)
		} else {
			byKind["recognisers"] = append(byKind["recognisers"], c)
		}
	}
	for _, kind := range []string{"all", "clean", "recognisers", "date", "digits4", "digits6", "name", "spelling", "yesno", "language"} {
		cases := byKind[kind]
		b.Run(kind, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, c := range cases {
					c.run()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(cases)), "ns/transcript")
		})
	}
}
