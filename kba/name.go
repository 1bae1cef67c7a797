package kba

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameWords bounds the words of a full name (given names, particles,
// family name); more is a sentence, not a name.
const maxNameWords = 6

// Phrases a caller or recogniser puts around a name. Matched on folded words.
var (
	nameLeads = [][]string{
		{"my", "name", "is"}, {"my", "names"}, {"the", "name", "is"}, {"name", "is"}, {"names"},
		{"this", "is"}, {"it", "is"}, {"its"}, {"i", "am"}, {"im"}, {"that", "is"}, {"thats"},
		{"yes"}, {"yeah"}, {"hi"}, {"mr"}, {"mrs"}, {"ms"}, {"miss"}, {"dr"}, {"doctor"},
		{"senor"}, {"senora"}, {"senorita"}, {"sr"}, {"sra"}, {"srta"}, {"hello"}, {"so"}, {"okay"}, {"ok"}, {"sure"}, {"well"}, {"um"}, {"uh"},
		{"yo", "me", "llamo"}, {"me", "llamo"}, {"mi", "nombre", "es"}, {"mi", "nombre"}, {"yo", "soy"}, {"soy"},
		{"es"}, {"si"}, {"hola"}, {"este"}, {"pues"}, {"bueno"}, {"eh"}, {"buenos", "dias"}, {"buenas", "tardes"},
	}
	nameTrails = [][]string{
		{"thank", "you"}, {"thanks"}, {"please"}, {"gracias"}, {"por", "favor"},
	}
	// nameFillers are hesitations dropped anywhere in a name.
	nameFillers = map[string]bool{"uh": true, "um": true, "umm": true, "uhm": true, "er": true, "erm": true,
		"eh": true, "em": true, "mm": true, "hmm": true, "ah": true}
	// nameStop are words that mean the answer is not a name.
	nameStop = map[string]bool{
		"know": true, "dont": true, "not": true, "sure": true, "representative": true, "agent": true,
		"operator": true, "help": true, "repeat": true, "again": true, "sorry": true, "what": true,
		"yes": true, "no": true, "hello": true, "hola": true, "name": true, "nombre": true, "llamo": true,
		"my": true, "mi": true, "is": true, "the": true, "and": true, "speak": true, "human": true,
		"person": true, "english": true, "spanish": true, "espanol": true, "ingles": true, "se": true,
		"quiero": true, "hablar": true, "ayuda": true, "otra": true, "vez": true, "representante": true,
		"operador": true, "idea": true, "birth": true, "date": true, "number": true, "social": true,
	}
	// nameParticles join the family name: "de la Cruz", "van der Berg".
	nameParticles = map[string]bool{"de": true, "del": true, "la": true, "las": true, "los": true,
		"van": true, "von": true, "der": true, "den": true, "da": true, "di": true, "du": true, "le": true, "dos": true}
)

type nameWord struct {
	raw string // as said, e.g. "García"
	key string // folded, e.g. "garcia"
}

// ParseSpokenName reads a full name from a speech transcript: "Maria
// Garcia", "my name is Maria Garcia", "it's Maria Garcia", "me llamo María
// García", "soy Juan de la Cruz". Lead-in phrases, hesitations and "thank
// you" are dropped; accents are kept; all-lower or all-upper words are
// capitalised ("maria" -> "Maria", "o'brien" -> "O'Brien"), mixed case is
// kept ("McDonald"). Family is the last word with any particles before it;
// Given is the rest. At least two words are needed. Errors: ErrEmpty,
// ErrUnparsable.
func ParseSpokenName(text string, lang Lang) (Name, error) {
	if strings.TrimSpace(text) == "" {
		return Name{}, newError("spoken name", "", ErrEmpty)
	}
	if len(text) > maxInput {
		return Name{}, newError("spoken name", "", ErrUnparsable)
	}
	var all [maxTokens]nameWord
	var keys [maxInput]byte // folded words, back to back; one string below
	kb := keys[:0]
	n := 0
	var ends [maxTokens]int
	for w := range nameFields(text) {
		if n == maxTokens {
			return Name{}, newError("spoken name", "", ErrUnparsable)
		}
		kb = foldAppend(kb, w)
		ends[n] = len(kb)
		all[n] = nameWord{raw: w}
		n++
	}
	folded := string(kb)
	for i := range n {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		all[i].key = folded[start:ends[i]]
	}
	words := all[:n]
	n = 0
	for _, w := range words {
		key := w.key
		if strings.IndexFunc(w.raw, unicode.IsDigit) >= 0 {
			return Name{}, newError("spoken name", "not a name", ErrUnparsable)
		}
		if nameFillers[key] {
			continue
		}
		all[n] = w
		n++
	}
	ws := all[:n]
	for stripped := true; stripped; {
		stripped = false
		for _, p := range nameLeads {
			if hasPhrase(ws, p) {
				ws = ws[len(p):]
				stripped = true
				break
			}
		}
	}
	for stripped := true; stripped; {
		stripped = false
		for _, p := range nameTrails {
			if len(ws) >= len(p) && hasPhrase(ws[len(ws)-len(p):], p) {
				ws = ws[:len(ws)-len(p)]
				stripped = true
				break
			}
		}
	}
	if len(ws) < 2 {
		return Name{}, newError("spoken name", "fewer than two words", ErrUnparsable)
	}
	if len(ws) > maxNameWords {
		return Name{}, newError("spoken name", "too many words", ErrUnparsable)
	}
	for i, w := range ws {
		if nameStop[w.key] && !(nameParticles[w.key] && i > 0 && i < len(ws)-1) {
			return Name{}, newError("spoken name", "not a name", ErrUnparsable)
		}
		// A lone letter is a middle initial, never a first or family name.
		if utf8.RuneCountInString(strings.Trim(w.raw, ".")) == 1 && (i == 0 || i == len(ws)-1) {
			return Name{}, newError("spoken name", "initial only", ErrUnparsable)
		}
	}
	allCaps := strings.ToUpper(text) == text
	particle := func(w nameWord) bool {
		// A capitalised "Van" is a name ("Nguyen Van Minh"); "van", "de la" are particles.
		return nameParticles[w.key] && (allCaps || !hasUpper(w.raw))
	}
	for i, w := range ws {
		if i > 0 && i < len(ws)-1 && particle(w) {
			continue
		}
		if isNumberWord(w.key) {
			return Name{}, newError("spoken name", "number word", ErrUnparsable)
		}
	}
	fam := len(ws) - 1
	for fam > 1 && particle(ws[fam-1]) {
		fam--
	}
	return Name{Given: joinName(ws[:fam], particle), Family: joinName(ws[fam:], particle)}, nil
}

func hasPhrase(ws []nameWord, p []string) bool {
	if len(ws) < len(p) {
		return false
	}
	for i, s := range p {
		if ws[i].key != s {
			return false
		}
	}
	return true
}

// nameFields yields the words of a name: runs of letters with inner
// apostrophes, hyphens and periods ("O'Brien", "Garcia-Lopez", "J."); any
// digit is kept so the caller can reject it.
func nameFields(s string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		start := -1
		for i, r := range s {
			inWord := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) ||
				(start >= 0 && (r == '\'' || r == '\u2019' || r == '-'))
			if inWord {
				if start < 0 {
					start = i
				}
				continue
			}
			if start >= 0 {
				if !yield(strings.TrimRight(s[start:i], "'\u2019-")) {
					return
				}
				start = -1
			}
		}
		if start >= 0 {
			yield(strings.TrimRight(s[start:], "'\u2019-"))
		}
	}
}

func joinName(ws []nameWord, particle func(nameWord) bool) string {
	var b strings.Builder
	for i, w := range ws {
		if i > 0 {
			b.WriteByte(' ')
		}
		writeNameWord(&b, w, i < len(ws)-1 && particle(w))
	}
	return b.String()
}

func hasUpper(s string) bool {
	for _, r := range s {
		if unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

// isNumberWord reports whether a folded word is a number or ordinal in
// either language: a date or digits said where a name was asked for.
func isNumberWord(key string) bool {
	for _, tbl := range [2]map[string]word{enWords, esWords} {
		if w, ok := tbl[key]; ok && w.k >= kZero && w.k <= kOrd {
			return true
		}
	}
	return false
}

// writeNameWord writes w with natural capitals: as said when mixed case,
// else each part after a space, hyphen or apostrophe capitalised. Particles
// said in lower case stay lower case ("de la Cruz").
func writeNameWord(b *strings.Builder, w nameWord, particle bool) {
	hasUpper, hasLower := false, false
	for _, r := range w.raw {
		hasUpper = hasUpper || unicode.IsUpper(r)
		hasLower = hasLower || unicode.IsLower(r)
	}
	if hasUpper && hasLower {
		b.WriteString(w.raw)
		return
	}
	if particle {
		b.WriteString(strings.ToLower(w.raw))
		return
	}
	capNext := true
	for _, r := range w.raw {
		if capNext {
			b.WriteRune(unicode.ToUpper(r))
		} else {
			b.WriteRune(unicode.ToLower(r))
		}
		capNext = r == '-' || r == '\'' || r == '\u2019'
	}
}
