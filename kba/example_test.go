package kba_test

import (
	"fmt"
	"time"

	"github.com/ivr-gateway/ivr/kba"
)

func ExampleParseSpokenDate() {
	now := time.Date(2026, time.November, 25, 12, 0, 0, 0, time.UTC)
	for _, said := range []string{"January fifth, nineteen eighty", "oh one oh five eighty", "el cinco de enero del ochenta"} {
		lang := kba.English
		if said[0] == 'e' {
			lang = kba.Spanish
		}
		r, err := kba.ParseSpokenDate(said, lang, now)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(r.Date.ISO(), r.Confirm, kba.SpeakDate(r.Date, lang))
	}
	_, err := kba.ParseSpokenDate("February thirtieth nineteen eighty", kba.English, now)
	fmt.Println(err)
	// Output:
	// 1980-01-05 false January fifth, nineteen eighty
	// 1980-01-05 true January fifth, nineteen eighty
	// 1980-01-05 true cinco de enero de mil novecientos ochenta
	// kba: spoken date: impossible date
}

func ExampleParseSpokenDigits() {
	ssn4, err := kba.ParseSpokenDigits("twelve thirty-four", kba.English, 4)
	fmt.Println(ssn4, err)
	_, err = kba.ParseSpokenDigits("one two three", kba.English, 4)
	fmt.Println(err)
	// Output:
	// 1234 <nil>
	// kba: spoken digits: 3 digits, want 4: wrong number of digits
}

func ExampleParseSpelling() {
	s, _ := kba.ParseSpelling("G as in George, A, R, C, I, A", kba.English)
	fmt.Println(s)
	// Output: Garcia
}
