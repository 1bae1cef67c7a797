package authserver

import (
	"strings"
	"unicode"
)

// Name matching thresholds. Names arrive from speech recognition, so exact
// comparison would lock out real callers ("Jon"/"John", "Smith"/"Smyth").
// The values were chosen on the table in match_test.go: they accept the
// usual recogniser and spelling variants (Garsia/Garcia JW 0.92,
// Smyth/Smith JW 0.89 with equal codes) and reject distinct surnames that
// sound alike to Double Metaphone, such as Garza/Garcia (JW 0.875, both
// KRS).
const (
	// familyJWStrong accepts a family name on Jaro-Winkler similarity and
	// the same initial letter.
	familyJWStrong = 0.92
	// familyJWPhonetic accepts a family name when its Double Metaphone code
	// also agrees (primary or alternate).
	familyJWPhonetic = 0.88
	// givenJW accepts a given name on Jaro-Winkler similarity alone; a given
	// name also passes on equal Double Metaphone codes or, when the caller
	// gave a single letter, on the initial.
	givenJW = 0.85
)

// foldTable maps the accented Latin letters of Western European and
// Spanish names to ASCII. It replaces a Unicode NFD pass (x/text is not a
// dependency); letters outside it and outside a-z are dropped.
var foldTable = map[rune]string{
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ā': "a", 'ă': "a", 'ą': "a",
	'æ': "ae", 'ç': "c", 'ć': "c", 'č': "c", 'ď': "d", 'đ': "d", 'ð': "d",
	'è': "e", 'é': "e", 'ê': "e", 'ë': "e", 'ē': "e", 'ė': "e", 'ę': "e", 'ě': "e",
	'ì': "i", 'í': "i", 'î': "i", 'ï': "i", 'ī': "i", 'į': "i", 'ı': "i",
	'ł': "l", 'ľ': "l", 'ñ': "n", 'ń': "n", 'ň': "n",
	'ò': "o", 'ó': "o", 'ô': "o", 'õ': "o", 'ö': "o", 'ø': "o", 'ō': "o", 'ő': "o", 'œ': "oe",
	'ř': "r", 'ś': "s", 'š': "s", 'ş': "s", 'ß': "ss", 'ť': "t", 'ţ': "t", 'þ': "th",
	'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ū': "u", 'ů': "u", 'ű': "u", 'ų': "u",
	'ý': "y", 'ÿ': "y", 'ź': "z", 'ż': "z", 'ž': "z",
}

// nameTokens folds case and accents and splits a name into its parts.
// Hyphens, apostrophes, dots and spaces separate parts; other characters
// are dropped. "María-José O'Neil" gives [maria jose o neil].
func nameTokens(s string) []string {
	var (
		toks []string
		cur  strings.Builder
	)
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		r = unicode.ToLower(r)
		switch {
		case r >= 'a' && r <= 'z':
			cur.WriteRune(r)
		case foldTable[r] != "":
			cur.WriteString(foldTable[r])
		case unicode.IsLetter(r), unicode.IsMark(r):
			// A letter we cannot fold (another script) or a combining
			// accent: drop it, keep the word together.
		default:
			flush()
		}
	}
	flush()
	return toks
}

// nameVariants returns the forms of a name that a caller may say: the whole
// name with separators removed ("delacruz", "garcialopez") and, for a name of
// several parts, each part ("garcia", "lopez"), since callers often give only
// one of two Spanish surnames or drop a middle name.
func nameVariants(s string) []string {
	toks := nameTokens(s)
	if len(toks) == 0 {
		return nil
	}
	v := []string{strings.Join(toks, "")}
	if len(toks) > 1 {
		v = append(v, toks...)
	}
	return v
}

// nameKey is a stored name form with its phonetic codes, computed once at load.
type nameKey struct {
	text     string
	primary  string
	alternat string
}

func newNameKeys(s string) []nameKey {
	vs := nameVariants(s)
	keys := make([]nameKey, len(vs))
	for i, v := range vs {
		p, a := doubleMetaphone(v)
		keys[i] = nameKey{text: v, primary: p, alternat: a}
	}
	return keys
}

func phoneticEqual(a, b nameKey) bool {
	if a.primary == "" || b.primary == "" {
		return false
	}
	return a.primary == b.primary || a.primary == b.alternat ||
		(a.alternat != "" && (a.alternat == b.primary || a.alternat == b.alternat))
}

// familyMatch reports whether a claimed family name matches a stored one:
// Jaro-Winkler >= familyJWStrong with the same initial (so Hernandez, JW
// 0.93 to Fernandez, stays distinct), or equal Double Metaphone codes with
// Jaro-Winkler >= familyJWPhonetic, on any pair of variants.
func familyMatch(claimed, stored []nameKey) bool {
	ok := false
	for _, c := range claimed {
		for _, s := range stored {
			jw := jaroWinkler(c.text, s.text)
			// No early return: the work done should not depend on which
			// variant matched.
			phon := phoneticEqual(c, s)
			if (jw >= familyJWStrong && (c.text[0] == s.text[0] || phon)) || (jw >= familyJWPhonetic && phon) {
				ok = true
			}
		}
	}
	return ok
}

// givenMatch reports whether a claimed given name matches a stored one:
// Jaro-Winkler >= givenJW, or equal Double Metaphone codes, or a
// one-letter claim equal to the stored initial.
func givenMatch(claimed, stored []nameKey) bool {
	ok := false
	for _, c := range claimed {
		for _, s := range stored {
			switch {
			case len(c.text) == 1:
				if s.text[0] == c.text[0] {
					ok = true
				}
			case jaroWinkler(c.text, s.text) >= givenJW, phoneticEqual(c, s):
				ok = true
			}
		}
	}
	return ok
}

// jaroWinkler returns the Jaro-Winkler similarity of two ASCII strings, in
// [0, 1]: Winkler's prefix bonus (scale 0.1, up to 4 characters) applies
// when the Jaro similarity exceeds 0.7.
func jaroWinkler(a, b string) float64 {
	if a == b {
		return 1
	}
	la, lb := len(a), len(b)
	if la == 0 || lb == 0 {
		return 0
	}
	window := max(la, lb)/2 - 1
	window = max(window, 0)
	var bufA, bufB [64]bool
	var ma, mb []bool
	if la <= len(bufA) && lb <= len(bufB) {
		ma, mb = bufA[:la], bufB[:lb]
	} else {
		ma, mb = make([]bool, la), make([]bool, lb)
	}
	matches := 0
	for i := range la {
		lo, hi := max(0, i-window), min(lb, i+window+1)
		for j := lo; j < hi; j++ {
			if !mb[j] && a[i] == b[j] {
				ma[i], mb[j] = true, true
				matches++
				break
			}
		}
	}
	if matches == 0 {
		return 0
	}
	transpositions, j := 0, 0
	for i := range la {
		if !ma[i] {
			continue
		}
		for !mb[j] {
			j++
		}
		if a[i] != b[j] {
			transpositions++
		}
		j++
	}
	m := float64(matches)
	jaro := (m/float64(la) + m/float64(lb) + (m-float64(transpositions/2))/m) / 3
	if jaro <= 0.7 {
		return jaro
	}
	prefix := 0
	for prefix < min(4, la, lb) && a[prefix] == b[prefix] {
		prefix++
	}
	return jaro + float64(prefix)*0.1*(1-jaro)
}
