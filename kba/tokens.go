package kba

import "unicode"

// maxTokens bounds the number of words a parser looks at; transcripts of KBA
// answers are short, and a fixed array keeps tokenising allocation-free.
const maxTokens = 48

// token is one word or digit run of a folded transcript.
type token struct {
	s    string // lower-case ASCII (accents folded), or ASCII digits
	num  bool   // s is a run of ASCII digits
	ord  bool   // num with an ordinal suffix: "5th", "1ro", "1º"
	hard bool   // num preceded directly by a separator ("/", "-", ".", ",") after another num: "1/5/1980"
	brk  bool   // a ',' or '.' (or '?', '!', ';', ':') since the previous token: where a repeated answer may begin
	off  uint16 // offset of s in the folded string, to look up the case it was said in
}

// tokens is a fixed-capacity token list; callers keep it on the stack.
type tokens struct {
	t [maxTokens]token
	n int
}

// fold returns s lower-cased with Spanish accents removed, apostrophes
// dropped ("it's" -> "its") and every other non-alphanumeric byte replaced by
// a space, except the separators '/', '-', '.', ',' which are kept for the
// tokenizer. Letters it does not know become '?', so they never match a word
// list. ok is false if s is too long.
func fold(s string) (string, bool) {
	if len(s) > maxInput {
		return "", false
	}
	var buf [maxInput]byte
	return string(foldAppend(buf[:0], s)), true
}

// foldAppend appends the folded form of s (see fold) to dst.
func foldAppend(dst []byte, s string) []byte { return foldMark(dst, s, nil) }

// foldMark is foldAppend that also records in upper, when it is not nil,
// which bytes of dst came from an upper-case letter: a spelled chunk such as
// "OKA" is recognised by its capitals. dst and s must fit upper (fold bounds
// s by maxInput).
func foldMark(dst []byte, s string, upper *[maxInput]bool) []byte {
	for _, r := range s {
		var c byte
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			c = byte(r)
		case r >= 'A' && r <= 'Z':
			c = byte(r) + 'a' - 'A'
		case r == '\'' || r == '\u2019':
			continue
		case r == '/' || r == '-' || r == '.' || r == ',':
			c = byte(r)
		case r == '?' || r == '!' || r == ';' || r == ':':
			// Sentence punctuation marks where one answer may end and a
			// repeat begin, as a comma or full stop does.
			c = ','
		default:
			c = foldRune(r)
		}
		if upper != nil && len(dst) < len(upper) {
			upper[len(dst)] = c >= 'a' && c <= 'z' && unicode.IsUpper(r)
		}
		dst = append(dst, c)
	}
	return dst
}

// foldRune maps a non-ASCII rune to its unaccented lower-case ASCII letter,
// ' ' for spaces and punctuation, and '?' for letters we do not know.
func foldRune(r rune) byte {
	switch r {
	case 'á', 'à', 'â', 'ä', 'ã', 'Á', 'À', 'Â', 'Ä', 'Ã', 'ª':
		return 'a'
	case 'é', 'è', 'ê', 'ë', 'É', 'È', 'Ê', 'Ë':
		return 'e'
	case 'í', 'ì', 'î', 'ï', 'Í', 'Ì', 'Î', 'Ï':
		return 'i'
	case 'ó', 'ò', 'ô', 'ö', 'õ', 'Ó', 'Ò', 'Ô', 'Ö', 'Õ', 'º':
		return 'o'
	case 'ú', 'ù', 'û', 'ü', 'Ú', 'Ù', 'Û', 'Ü':
		return 'u'
	case 'ñ', 'Ñ':
		return 'n'
	case 'ç', 'Ç':
		return 'c'
	}
	if r < 0x80 || r == '\u00a0' || r == '\u2013' || r == '\u2014' || r == '\u201c' || r == '\u201d' || r == '\u00bf' || r == '\u00a1' {
		return ' '
	}
	return '?'
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c == '?' }

// tokenize splits a folded string into words and digit runs. A digit run
// directly followed by an ordinal suffix ("5th", "1st", "1ro", "1o") becomes
// one ordinal token. ok is false when there are more than maxTokens tokens.
func tokenize(f string, ts *tokens) bool {
	ts.n = 0
	sep := false  // a separator byte since the last token
	stop := false // a ',' or '.' since the last token
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case isDigit(c):
			j := i
			for j < len(f) && isDigit(f[j]) {
				j++
			}
			tk := token{s: f[i:j], num: true, brk: stop, off: uint16(i)}
			k := j
			for k < len(f) && isLetter(f[k]) {
				k++
			}
			if k > j {
				if !isOrdinalSuffix(f[j:k]) {
					return false
				}
				tk.ord = true
			}
			if sep && ts.n > 0 && ts.t[ts.n-1].num {
				tk.hard = true
			}
			if ts.n == maxTokens {
				return false
			}
			ts.t[ts.n] = tk
			ts.n++
			sep, stop = false, false
			i = k
		case isLetter(c):
			j := i
			for j < len(f) && isLetter(f[j]) {
				j++
			}
			if ts.n == maxTokens {
				return false
			}
			ts.t[ts.n] = token{s: f[i:j], brk: stop, off: uint16(i)}
			ts.n++
			sep, stop = false, false
			i = j
		default:
			if c != ' ' {
				sep = true
			}
			if c == ',' || c == '.' {
				stop = true
			}
			i++
		}
	}
	return true
}

func isOrdinalSuffix(s string) bool {
	switch s {
	case "st", "nd", "rd", "th", "ro", "do", "to", "vo", "no", "o", "er":
		return true
	}
	return false
}
