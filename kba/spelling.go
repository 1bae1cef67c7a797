package kba

import (
	"strings"
)

// maxSpelled bounds a spelled name's length.
const maxSpelled = 40

// Letter names, matched on folded words. Single letters ("g", "a") are
// always letters and are not listed.
var (
	natoLetters = map[string]byte{
		"alpha": 'a', "alfa": 'a', "bravo": 'b', "charlie": 'c', "charly": 'c', "delta": 'd', "echo": 'e', "eco": 'e',
		"foxtrot": 'f', "golf": 'g', "hotel": 'h', "india": 'i', "juliet": 'j', "juliett": 'j', "julieta": 'j',
		"kilo": 'k', "lima": 'l', "mike": 'm', "november": 'n', "oscar": 'o', "papa": 'p', "quebec": 'q',
		"romeo": 'r', "sierra": 's', "tango": 't', "uniform": 'u', "victor": 'v', "whiskey": 'w', "whisky": 'w',
		"xray": 'x', "yankee": 'y', "zulu": 'z',
	}
	enLetterNames = map[string]byte{
		"bee": 'b', "see": 'c', "sea": 'c', "cee": 'c', "dee": 'd', "gee": 'g', "aitch": 'h', "eye": 'i',
		"jay": 'j', "kay": 'k', "el": 'l', "ell": 'l', "em": 'm', "en": 'n', "oh": 'o', "pee": 'p',
		"cue": 'q', "queue": 'q', "are": 'r', "ar": 'r', "ess": 's', "es": 's', "tee": 't', "tea": 't',
		"you": 'u', "vee": 'v', "ex": 'x', "why": 'y', "wye": 'y', "zee": 'z', "zed": 'z',
	}
	esLetterNames = map[string]byte{
		"be": 'b', "ce": 'c', "de": 'd', "efe": 'f', "ge": 'g', "hache": 'h', "jota": 'j', "ka": 'k',
		"ele": 'l', "eme": 'm', "ene": 'n', "pe": 'p', "cu": 'q', "erre": 'r', "ere": 'r', "ese": 's',
		"te": 't', "uve": 'v', "ve": 'v', "equis": 'x', "ye": 'y', "zeta": 'z', "seta": 'z',
	}
	// spellFillers are words around a spelling that carry no letter.
	spellFillers = map[string]bool{
		"its": true, "it": true, "is": true, "spelled": true, "spell": true, "spelt": true, "thats": true,
		"uh": true, "um": true, "umm": true, "and": true, "the": true, "letter": true, "letters": true,
		"capital": true, "my": true, "name": true, "last": true, "first": true, "then": true,
		"se": true, "escribe": true, "deletreo": true, "mayuscula": true, "apellido": true, "mi": true,
		"nombre": true, "pues": true, "este": true, "eh": true, "con": true, "letra": true, "luego": true,
	}
	// spellConnectors introduce an example word: "G as in George", "B for boy", "be de burro".
	spellConnectors = map[string]bool{"as": true, "like": true, "for": true, "de": true, "como": true}
	spellSymbols    = map[string]byte{
		"space": ' ', "espacio": ' ', "dash": '-', "hyphen": '-', "guion": '-', "apostrophe": '\'', "apostrofe": '\'',
	}
)

// ParseSpelling reads a spelled name: letters ("G A R C I A", "g-a-r-c-i-a"),
// the NATO alphabet ("Golf Alpha Romeo Charlie India Alpha"), letter names
// ("gee", "jota"), "double" before a letter, and example words ("G as in
// George", "be de burro", which must start with the letter they explain).
// "space", "dash" and "apostrophe" are kept. Recognisers glue some spelled
// letters together: a chunk of capitals that is no NATO word ("OKA F O R",
// "LIN D Q V I S T") is split into its letters when single letters show the
// caller is spelling. A self-correction keeps the letters after it ("G A R
// C I A, sorry, G A R C E S"); the same spelling twice, split by a full stop
// or "again", is that spelling; a request for a person is none. The result
// is capitalised: "Garcia", "O'Brien". Errors: ErrEmpty, ErrUnparsable.
func ParseSpelling(text string, lang Lang) (string, error) {
	if strings.TrimSpace(text) == "" {
		return "", newError("spelling", "", ErrEmpty)
	}
	if len(text) > maxInput {
		return "", newError("spelling", "", ErrUnparsable)
	}
	var (
		upper [maxInput]bool
		buf   [maxInput]byte
	)
	f := string(foldMark(buf[:0], text, &upper))
	var ts tokens
	if !tokenize(f, &ts) {
		return "", newError("spelling", "", ErrUnparsable)
	}
	if personTokens(&ts) {
		return "", newError("spelling", "asked for a person", ErrUnparsable)
	}
	caps := func(t token) bool {
		for k := int(t.off); k < int(t.off)+len(t.s); k++ {
			if !upper[k] {
				return false
			}
		}
		return true
	}
	// Said words are written in lower case; a word in capitals is letters
	// ("NO" in "NO V A K"), never a correction.
	from := 0
	for i := range ts.n {
		prev := ""
		if i > 0 {
			prev = ts.t[i-1].s
		}
		if t := ts.t[i]; !t.num && !caps(t) && metaWord(t.s, prev, lang) == metaCorrect {
			from = i + 1
		}
	}
	if from > 0 {
		for from < ts.n && metaTail(ts.t[from].s, "") {
			from++
		}
		if from == ts.n {
			return "", newError("spelling", "correction without an answer", ErrUnparsable)
		}
	}
	// chunks: single letters show the caller spells, so a chunk of capitals
	// is letters run together rather than a word.
	chunks := false
	for i := from; i < ts.n; i++ {
		if t := ts.t[i]; !t.num && len(t.s) == 1 && t.s[0] >= 'a' && t.s[0] <= 'z' {
			chunks = true
			break
		}
	}
	var (
		out [maxSpelled]byte
		// cut[k]: a full stop, comma or "again" came before out[k]: where a
		// repeated spelling may begin.
		cut  [maxSpelled + 1]bool
		mark bool
	)
	n, letters, repeat := 0, 0, 1
	lastTok, lastN := -1, 0 // the token of the last single letter, and n before it
	for i := from; i < ts.n; i++ {
		t := ts.t[i].s
		if ts.t[i].num {
			return "", errSpelling()
		}
		if ts.t[i].brk && n < len(cut) {
			cut[n] = true
		}
		if t == "otra" && i+1 < ts.n && ts.t[i+1].s == "vez" {
			i++
			mark = true
			continue
		}
		if !caps(ts.t[i]) && metaWord(t, "", lang) == metaRepeat {
			if lastTok >= 0 && lastTok == i-1 && metaLead(ts.t[i-1].s) {
				// "I said": the I was no letter.
				n, letters = lastN, letters-(n-lastN)
			}
			mark = true
			continue
		}
		if mark {
			cut[n], mark = true, false
		}
		// "double u" / "doble ve" / "uve doble" is W, not two letters.
		if (t == "double" || t == "doble") && i+1 < ts.n {
			switch ts.t[i+1].s {
			case "u", "you", "ve", "v", "uve":
				t = "w"
				i++
			default:
				repeat = 2
				continue
			}
		}
		if t == "triple" {
			repeat = 3
			continue
		}
		if t == "uve" && i+1 < ts.n && ts.t[i+1].s == "doble" {
			t = "w"
			i++
		}
		if (t == "i" || t == "y") && i+1 < ts.n && ts.t[i+1].s == "griega" {
			t = "y"
			i++
		}
		if t == "x" && i+1 < ts.n && ts.t[i+1].s == "ray" {
			i++
		}
		// After a letter, "as in George" / "de burro" explains it.
		if n > 0 && spellConnectors[t] {
			j := i + 1
			if j < ts.n && (ts.t[j].s == "in" || ts.t[j].s == "en") {
				j++
			}
			if j < ts.n && !ts.t[j].num && len(ts.t[j].s) > 1 && ts.t[j].s[0] == out[n-1] {
				i = j
				continue
			}
		}
		// "the letters are G A R ...": before any letter "are" is the verb, not R.
		if n == 0 && t == "are" {
			continue
		}
		if chunks && len(t) > 1 && natoLetters[t] == 0 && caps(ts.t[i]) {
			if repeat != 1 || n+len(t) > maxSpelled {
				return "", errSpelling()
			}
			for k := 0; k < len(t); k++ {
				out[n] = t[k]
				n++
			}
			letters += len(t)
			continue
		}
		c, isLetter := spellLetter(t, lang)
		if !isLetter {
			if sym, ok := spellSymbols[t]; ok && n > 0 && n < maxSpelled {
				out[n] = sym
				n++
				continue
			}
			if spellFillers[t] {
				continue
			}
			return "", errSpelling()
		}
		lastTok, lastN = i, n
		for range repeat {
			if n == maxSpelled {
				return "", errSpelling()
			}
			out[n] = c
			n++
			letters++
		}
		repeat = 1
	}
	for n > 0 && (out[n-1] == ' ' || out[n-1] == '-' || out[n-1] == '\'') {
		n--
	}
	if letters < 2 || repeat != 1 {
		return "", errSpelling()
	}
	n = spelledOnce(out[:n], cut[:n+1])
	capNext := true
	for i := range n {
		c := out[i]
		if capNext && c >= 'a' && c <= 'z' {
			out[i] = c - 'a' + 'A'
		}
		capNext = c == ' ' || c == '-' || c == '\''
	}
	return string(out[:n]), nil
}

// spelledOnce returns the length of the spelling said once when out is the
// same spelling said twice with the only cut between the two ("G A R C I A.
// G A R C I A."); otherwise len(out). Where every letter is cut off ("T, O,
// T, O") nothing marks the middle, and the letters stand as spelled.
func spelledOnce(out []byte, cut []bool) int {
	n := len(out)
	h := n / 2
	if n < 4 || n%2 != 0 || !cut[h] || string(out[:h]) != string(out[h:]) {
		return n
	}
	for k := 1; k < n; k++ {
		if cut[k] && k != h {
			return n
		}
	}
	return h
}

func errSpelling() error { return newError("spelling", "", ErrUnparsable) }

// spellLetter returns the letter a spelling word stands for.
func spellLetter(t string, lang Lang) (byte, bool) {
	if len(t) == 1 && t[0] >= 'a' && t[0] <= 'z' {
		return t[0], true
	}
	if c, ok := natoLetters[t]; ok {
		return c, true
	}
	if lang == Spanish {
		if t == "de" { // the letter D, unless an example word follows (handled by the caller)
			return 'd', true
		}
		c, ok := esLetterNames[t]
		return c, ok
	}
	if c, ok := enLetterNames[t]; ok {
		return c, true
	}
	return 0, false
}
