package kba

// Callers correct and repeat themselves, and recognisers transcribe all of
// it: "March 3rd 1971, no, March 13th 1971", "0 9 1 2 sorry 0 9 1 3", "June
// 2 1950 June 2 1950". The rules, shared by every parser of a token list:
//
//   - A correction word ("no", "sorry", "I mean", "perdón", "digo", "o sea")
//     retracts everything before it: the answer is what follows the last
//     one, and it must be complete on its own (a trailing correction with
//     nothing after it leaves no answer, and the caller is asked again).
//   - A repeat marker ("again", "I said", "otra vez", "repito") is dropped and
//     marks where a repeated answer starts.
//   - A transcript that does not read as one answer may read as the same
//     answer two or three times, split where the recogniser put a comma or
//     full stop, at a repeat marker, or (dates) between two month names.
//     Every way of splitting it must agree; two different complete answers
//     without a correction word between them are ambiguous, and rejected.

// maxCuts bounds the places where a transcript is tried as repeated answers;
// beyond it the transcript is not an answer repeated, and the work per
// transcript stays bounded.
const maxCuts = 12

// metaKind is what a word says about the answer rather than in it.
type metaKind uint8

const (
	metaNone    metaKind = iota
	metaCorrect          // the words before are retracted
	metaRepeat           // the same answer follows again
)

// metaWord classifies one folded word; prev is the word before it ("" at
// the start). Both languages' words count: callers switch languages to
// correct themselves, and none of these is a number, month or letter word.
func metaWord(t, prev string, lang Lang) metaKind {
	switch t {
	case "no", "nope", "sorry", "actually", "wait", "oops", "correction", "rather", "mean", "meant", "scratch",
		"perdon", "perdona", "perdone", "disculpa", "disculpe", "digo", "dicho", "decir", "corrijo", "mentira",
		"espera", "espere", "correccion":
		return metaCorrect
	case "sea":
		// "o sea" (I mean); in English "o" is a zero and "sea" the letter C.
		if lang == Spanish && prev == "o" {
			return metaCorrect
		}
	case "again", "said", "repeat", "repito", "dije":
		return metaRepeat
	case "vez":
		if prev == "otra" || prev == "una" {
			return metaRepeat
		}
	}
	return metaNone
}

// metaLead reports whether t belongs to the marker after it: "I said", "as
// I said", "le dije", "otra vez". It is dropped with the marker.
func metaLead(t string) bool {
	switch t {
	case "i", "as", "like", "le", "lo", "te", "ya", "otra", "una":
		return true
	}
	return false
}

// metaTail reports whether t belongs to the correction before it: "scratch
// that", "I meant to say", "quiero decir que".
func metaTail(t, next string) bool {
	switch t {
	case "that", "say", "que":
		return true
	case "to": // "meant to say"; "to" alone is a digit homophone
		return next == "say"
	}
	return false
}

// answerTokens removes from ts what is about the answer rather than the
// answer (see the rules above): everything up to and including the last
// correction, and the repeat markers, whose next token gets brk set. It
// reports whether a correction was removed; ok is false when one was and
// nothing is left after it.
func answerTokens(ts *tokens, lang Lang) (corrected, ok bool) {
	from, repeats := 0, false
	for i := range ts.n {
		if ts.t[i].num {
			continue
		}
		prev := ""
		if i > 0 {
			prev = ts.t[i-1].s
		}
		switch metaWord(ts.t[i].s, prev, lang) {
		case metaCorrect:
			from, corrected, repeats = i+1, true, false
		case metaRepeat:
			repeats = true
		}
	}
	if corrected {
		for from < ts.n && !ts.t[from].num {
			next := ""
			if from+1 < ts.n {
				next = ts.t[from+1].s
			}
			if !metaTail(ts.t[from].s, next) {
				break
			}
			from++
		}
	}
	if from == 0 && !repeats {
		return false, true
	}
	n, brk := 0, false
	for i := from; i < ts.n; i++ {
		t := ts.t[i]
		if repeats && !t.num {
			prev := ""
			if i > from {
				prev = ts.t[i-1].s
			}
			if metaWord(t.s, prev, lang) == metaRepeat {
				for k := 0; k < 2 && n > 0 && !ts.t[n-1].num && metaLead(ts.t[n-1].s); k++ {
					n-- // "as I said"
				}
				brk = true
				continue
			}
		}
		t.brk = t.brk || brk
		brk = false
		ts.t[n] = t
		n++
	}
	ts.n = n
	return corrected, n > 0 || !corrected
}

// cutsAt collects into cuts, in ascending order, the token positions inside
// ts where a repeated answer may begin: after sentence punctuation or a
// repeat marker and, when between is set, every position after a token it
// selects up to the next such token (for dates: between two month names).
// ok is false when there are more than maxCuts.
func cutsAt(ts *tokens, cuts *[maxCuts]int, between func(token) bool) (n int, ok bool) {
	var at [maxTokens]bool
	last := -1
	for i := range ts.n {
		t := ts.t[i]
		at[i] = i > 0 && t.brk
		if between == nil || !between(t) {
			continue
		}
		if last >= 0 {
			for k := last + 1; k <= i; k++ {
				at[k] = true
			}
		}
		last = i
	}
	for i := 1; i < ts.n; i++ {
		if !at[i] {
			continue
		}
		if n == maxCuts {
			return n, false
		}
		cuts[n] = i
		n++
	}
	return n, true
}

// repeated reads tokens [0, end) as the same answer said two or three times,
// split at cuts (ascending). parse reads one part [a, b). It returns the
// answer when at least one split reads and every split that reads agrees;
// two parts that read differently make the transcript ambiguous (ok false).
func repeated[V comparable](cuts []int, end int, parse func(a, b int) (V, bool)) (v V, ok bool) {
	var (
		pre, suf     [maxCuts]V
		preOK, sufOK [maxCuts]bool
		zero         V
	)
	for i, c := range cuts {
		pre[i], preOK[i] = parse(0, c)
		suf[i], sufOK[i] = parse(c, end)
	}
	found := false
	agree := func(x V) bool {
		if !found {
			v, found = x, true
			return true
		}
		return x == v
	}
	for i := range cuts {
		if preOK[i] && sufOK[i] && (pre[i] != suf[i] || !agree(pre[i])) {
			return zero, false
		}
	}
	for i := range cuts {
		if !preOK[i] {
			continue
		}
		for j := i + 1; j < len(cuts); j++ {
			if !sufOK[j] {
				continue
			}
			m, mok := parse(cuts[i], cuts[j])
			if !mok {
				continue
			}
			if pre[i] != m || m != suf[j] || !agree(m) {
				return zero, false
			}
		}
	}
	if !found {
		return zero, false
	}
	return v, true
}
