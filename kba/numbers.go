package kba

// maxDigits bounds the digits a spoken answer may produce (a date has at most
// eight; an OTP six). Longer answers are rejected.
const maxDigits = 24

// seq is the digit string a run of spoken or written number words denotes,
// with the places a date field may start or end. Spoken compounds are atomic
// ("nineteen" is "19", never "1" then "9"); adjacent numbers may join
// ("oh" "one" -> "01", "nineteen" "eighty" -> "1980").
type seq struct {
	d       [maxDigits]byte
	n       int
	cutOK   [maxDigits + 1]bool // a field may begin or end before d[i]
	cutMust [maxDigits + 1]bool // a field must begin or end before d[i] ("1/5", around ordinals)
	ord     [maxDigits]bool     // d[i] is part of an ordinal ("fifth", "5th")
}

// slot bits: what may still be added to the compound number being read.
const (
	sHund = 1 << iota // a Spanish hundreds word ("novecientos")
	sTens             // a tens or teens word
	sUnit             // a unit word
	sMulH             // English "hundred"
	sMulT             // "thousand", "mil"
)

// scanner reads number words into a seq.
type scanner struct {
	q          *seq
	lang       Lang
	open       bool // a spoken compound is being read
	total, cur int
	slot       int
	hundred    bool // "hundred" already used below the thousands
	repeat     int  // pending "double"/"triple"
	err        bool
}

func (s *scanner) emit(digits []byte, atomic, ord, hard bool) {
	q := s.q
	if q.n+len(digits) > maxDigits {
		s.err = true
		return
	}
	start := q.n
	q.cutOK[start] = true
	if hard || ord || (start > 0 && q.ord[start-1]) {
		q.cutMust[start] = true
	}
	for i, c := range digits {
		if i > 0 {
			q.cutOK[q.n] = !atomic
		}
		q.d[q.n] = c
		q.ord[q.n] = ord
		q.n++
	}
	q.cutOK[q.n] = true
	if ord {
		q.cutMust[q.n] = true
	}
}

// close ends the compound being read and writes its digits.
func (s *scanner) close(ord bool) {
	if !s.open {
		return
	}
	s.open = false
	var buf [8]byte
	s.emit(itoa(buf[:0], s.total+s.cur), true, ord, false)
}

func (s *scanner) start(v, slot int) {
	s.close(false)
	s.open, s.total, s.cur, s.slot, s.hundred = true, 0, v, slot, false
}

// afterSmall is the slot after a unit or teen completes the part below 100.
func (s *scanner) afterSmall() int {
	sl := 0
	if s.cur < 100 && !s.hundred {
		sl |= sMulH
	}
	if s.total == 0 {
		sl |= sMulT
	}
	return sl
}

// number feeds one number word (not a month or filler) to the scanner.
func (s *scanner) number(w word) {
	if s.repeat > 0 {
		if w.k != kZero && w.k != kUnit {
			s.err = true
			return
		}
		s.close(false)
		for range s.repeat {
			s.emit([]byte{byte('0' + w.v)}, true, false, false)
		}
		s.repeat = 0
		return
	}
	switch w.k {
	case kZero:
		s.close(false)
		s.emit([]byte{'0'}, true, false, false)
	case kUnit:
		if s.open && s.slot&sUnit != 0 {
			s.cur += w.v
			s.slot = s.afterSmall()
			return
		}
		s.start(w.v, sMulH|sMulT)
	case kTeen:
		if s.open && s.slot&sTens != 0 {
			s.cur += w.v
			s.slot = s.afterSmall()
			return
		}
		s.start(w.v, sMulH|sMulT)
	case kTens:
		if s.open && s.slot&sTens != 0 {
			s.cur += w.v
			s.slot = sUnit
			return
		}
		s.start(w.v, sUnit|sMulT)
	case kHundreds:
		if s.open && s.slot&sHund != 0 {
			s.cur += w.v
			s.slot = sTens | sUnit
			return
		}
		s.start(w.v, sTens|sUnit|sMulT)
	case kHundred:
		if !s.open || s.slot&sMulH == 0 || s.cur == 0 {
			s.err = true
			return
		}
		s.cur *= 100
		s.hundred = true
		s.slot = sTens | sUnit
	case kThousand:
		switch {
		// Spanish says "mil", never "uno mil": "cinco uno mil novecientos" is 5, 1, 1900.
		case s.open && s.slot&sMulT != 0 && s.total == 0 && (s.cur > 1 || s.cur == 1 && s.lang != Spanish):
			s.total, s.cur = s.cur*1000, 0
		case s.lang == Spanish: // "mil" alone is one thousand
			s.start(0, 0)
			s.total = 1000
		default:
			s.err = true
			return
		}
		s.hundred = false
		s.slot = sHund | sTens | sUnit
	case kOrdUnit:
		if s.open && s.slot&sUnit != 0 && s.total == 0 && s.cur >= 20 && s.cur < 100 {
			s.cur += w.v
			s.close(true)
			return
		}
		s.close(false)
		var buf [4]byte
		s.emit(itoa(buf[:0], w.v), true, true, false)
	case kOrd:
		s.close(false)
		var buf [4]byte
		s.emit(itoa(buf[:0], w.v), true, true, false)
	case kMult:
		s.close(false)
		s.repeat = w.v
	case kJoin:
		// "one hundred and five", "treinta y cuatro": the number goes on.
	default:
		s.close(false)
	}
}

// digits feeds a written digit run ("1980", "5th") to the scanner.
func (s *scanner) digits(t token) {
	if s.repeat > 0 {
		if len(t.s) != 1 || t.ord {
			s.err = true
			return
		}
		s.close(false)
		for range s.repeat {
			s.emit([]byte{t.s[0]}, true, false, false)
		}
		s.repeat = 0
		return
	}
	s.close(false)
	if len(t.s) > maxDigits {
		s.err = true
		return
	}
	// Short runs are fields as written ("1/5"); longer ones may be several
	// fields run together by the recogniser ("01051980", "151980").
	s.emit([]byte(t.s), len(t.s) <= 2 || t.ord, t.ord, t.hard)
}

// finish ends the scan; ok is false if the words did not form numbers.
func (s *scanner) finish() bool {
	s.close(false)
	return !s.err && s.repeat == 0
}

// itoa appends the decimal form of a non-negative v.
func itoa(b []byte, v int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

// atoi parses ASCII digits (the caller has checked them).
func atoi(b []byte) int {
	v := 0
	for _, c := range b {
		v = v*10 + int(c-'0')
	}
	return v
}
