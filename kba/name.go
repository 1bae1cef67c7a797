package kba

import (
	"iter"
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
	raw    string // as said, e.g. "García"
	key    string // folded, e.g. "garcia"
	commas int    // commas between this word and the one before: "Okafor, Chidi"
}

// ParseSpokenName reads a full name from a speech transcript: "Maria
// Garcia", "my name is Maria Garcia", "it's Maria Garcia", "me llamo María
// García", "soy Juan de la Cruz". Lead-in phrases, hesitations and "thank
// you" are dropped; accents are kept; all-lower or all-upper words are
// capitalised ("maria" -> "Maria", "o'brien" -> "O'Brien"), mixed case is
// kept ("McDonald"). Family is the last word with any particles before it;
// Given is the rest. One comma between the words marks the surname-first
// order: "Okafor, Chidi", "de la Cruz, Juan". A self-correction keeps the
// last name ("Maria Garcia, sorry, Marta Garcia"), the same name said twice
// is that name, and a request for a person is no name. Number words and
// digits are never part of a name, and digit homophones ("Won", "Tu") are
// read as the names they are. At least two words are needed. Errors:
// ErrEmpty, ErrUnparsable.
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
	for w, comma := range nameFields(text) {
		if n == maxTokens {
			return Name{}, newError("spoken name", "", ErrUnparsable)
		}
		kb = foldAppend(kb, w)
		ends[n] = len(kb)
		all[n] = nameWord{raw: w, commas: comma}
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
	// The folded words, split as WantsPerson splits them ("agent-smith"
	// asks for an agent): a request the dialog would transfer is no name.
	var ps personScan
	asks := false
	for i := range n {
		asks = asks || ps.feed(kb[ends[i]-len(all[i].key):ends[i]])
	}
	if asks || ps.done() {
		return Name{}, newError("spoken name", "asked for a person", ErrUnparsable)
	}
	words := all[:n]
	n = 0
	carry := 0 // commas around a dropped hesitation: "Chidi, um, Okafor" is a pause, not an order
	for _, w := range words {
		key := w.key
		if strings.IndexFunc(w.raw, unicode.IsDigit) >= 0 {
			return Name{}, newError("spoken name", "not a name", ErrUnparsable)
		}
		if nameFillers[key] {
			carry += w.commas
			continue
		}
		w.commas += carry
		carry = 0
		all[n] = w
		n++
	}
	ws, ok := nameAnswer(all[:n], lang)
	if !ok {
		return Name{}, newError("spoken name", "correction without an answer", ErrUnparsable)
	}
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
	if h := len(ws) / 2; len(ws) >= 4 && len(ws)%2 == 0 && sameWords(ws[:h], ws[h:]) {
		ws = ws[:h] // "Maria Garcia Maria Garcia": said twice
	}
	if len(ws) < 2 {
		return Name{}, newError("spoken name", "fewer than two words", ErrUnparsable)
	}
	if len(ws) > maxNameWords {
		return Name{}, newError("spoken name", "too many words", ErrUnparsable)
	}
	// fam is where the family name starts; surname-first puts it first.
	fam, commas := 0, 0
	for i := 1; i < len(ws); i++ {
		if ws[i].commas > 0 {
			fam = i
			commas += ws[i].commas
		}
	}
	// Several commas are pauses, not an order: given-first.
	surnameFirst := commas == 1
	if surnameFirst && ws[fam-1].key == ws[len(ws)-1].key {
		// "Maria Garcia, Marta Garcia" is two given-first names, not one
		// surname-first name: two answers without a correction.
		return Name{}, newError("spoken name", "two names", ErrUnparsable)
	}
	allCaps := strings.ToUpper(text) == text
	particle := func(w nameWord) bool {
		// A capitalised "Van" is a name ("Nguyen Van Minh"); "van", "de la" are particles.
		return nameParticles[w.key] && (allCaps || !hasUpper(w.raw))
	}
	// particleAt: particles lead a family name ("de la Cruz"), so they sit
	// inside a given-first name, and before the family name's last word
	// when it comes first.
	particleAt := func(i int) bool {
		if surnameFirst {
			return i < fam-1
		}
		return i > 0 && i < len(ws)-1
	}
	// initialOK: a lone letter is a middle initial, never a first name or
	// part of a family name.
	initialOK := func(i int) bool {
		if surnameFirst {
			return i > fam
		}
		return i > 0 && i < len(ws)-1
	}
	for i, w := range ws {
		if nameStop[w.key] && !(nameParticles[w.key] && particleAt(i)) {
			return Name{}, newError("spoken name", "not a name", ErrUnparsable)
		}
		if utf8.RuneCountInString(strings.Trim(w.raw, ".")) == 1 && !initialOK(i) {
			return Name{}, newError("spoken name", "initial only", ErrUnparsable)
		}
	}
	for i, w := range ws {
		if particleAt(i) && particle(w) {
			continue
		}
		if isNumberWord(w.key) {
			return Name{}, newError("spoken name", "number word", ErrUnparsable)
		}
	}
	if surnameFirst {
		return Name{Given: joinName(ws[fam:], particle), Family: joinName(ws[:fam], particle)}, nil
	}
	fam = len(ws) - 1
	for fam > 1 && particle(ws[fam-1]) {
		fam--
	}
	return Name{Given: joinName(ws[:fam], particle), Family: joinName(ws[fam:], particle)}, nil
}

// nameAnswer keeps the name after the caller's last self-correction
// ("Maria Garcia, sorry, Marta Garcia") and drops repeat markers ("I said").
// ok is false when a correction is followed by nothing.
func nameAnswer(ws []nameWord, lang Lang) ([]nameWord, bool) {
	from := -1
	for i, w := range ws {
		prev := ""
		if i > 0 {
			prev = ws[i-1].key
		}
		switch w.key {
		case "rather", "wait", "scratch", "espera", "espere", "correction", "correccion":
			// Surnames (Dan Rather) or rare in a name answer: not a correction here.
			continue
		}
		if metaWord(w.key, prev, lang) == metaCorrect {
			from = i
		}
	}
	corrected := from >= 0
	from++
	for from < len(ws) && metaTail(ws[from].key, "") {
		from++
	}
	ws = ws[from:]
	n := 0
	for i, w := range ws {
		prev := ""
		if i > 0 {
			prev = ws[i-1].key
		}
		if metaWord(w.key, prev, lang) == metaRepeat {
			if n > 0 && metaLead(ws[n-1].key) {
				n--
			}
			continue
		}
		ws[n] = w
		n++
	}
	return ws[:n], n > 0 || !corrected
}

// sameWords reports whether a and b are the same words, ignoring case and
// accents.
func sameWords(a, b []nameWord) bool {
	for i := range a {
		if a[i].key != b[i].key {
			return false
		}
	}
	return len(a) == len(b)
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
// digit is kept so the caller can reject it. With each word it yields
// how many commas or semicolons stand between it and the word before.
func nameFields(s string) iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		start := -1
		comma := 0
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
				if !yield(strings.TrimRight(s[start:i], "'\u2019-"), comma) {
					return
				}
				start, comma = -1, 0
			}
			if r == ',' || r == ';' || r == '\u060c' || r == '\u3001' {
				comma++
			}
		}
		if start >= 0 {
			yield(strings.TrimRight(s[start:], "'\u2019-"), comma)
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
