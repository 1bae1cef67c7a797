package kba

// Answer words for confirmation questions, matched on folded words.
var (
	yesWords = map[string]bool{
		"yes": true, "yeah": true, "yep": true, "yup": true, "ya": true, "correct": true, "right": true,
		"sure": true, "affirmative": true, "mhm": true, "yea": true, "absolutely": true, "exactly": true, "true": true, "okay": true, "ok": true,
		"si": true, "correcto": true, "claro": true, "exacto": true, "cierto": true, "afirmativo": true,
		"vale": true, "bien": true, "perfecto": true,
	}
	noWords = map[string]bool{
		"no": true, "nope": true, "nah": true, "wrong": true, "incorrect": true, "negative": true,
		"incorrecto": true, "equivocado": true, "mal": true, "negativo": true,
	}
	// negators turn a following yes word into a no: "not right", "no es correcto".
	negators = map[string]bool{"not": true, "isnt": true, "no": true, "nunca": true, "never": true}
	// unsureWords make an answer neither yes nor no: "I'm not sure", "no sé".
	unsureWords = map[string]bool{"know": true, "sure": true, "se": true, "maybe": true, "quizas": true, "tal": true, "repeat": true, "repetir": true}
)

// ParseYesNo reads a confirmation: "yes", "yeah", "correct", "that's
// right", "no", "that's wrong", "sí", "correcto", "no es correcto". ok is
// false when the answer is neither or both ("yes no", "I'm not sure"); the
// dialog then asks again; so is a request for a person ("yes, an agent
// please"). The language only documents intent: callers mix
// "sí" and "yes", so both word lists are used.
func ParseYesNo(text string, lang Lang) (yes bool, ok bool) {
	_ = lang
	f, fok := fold(text)
	if !fok {
		return false, false
	}
	var ts tokens
	if !tokenize(f, &ts) || personTokens(&ts) {
		return false, false
	}
	pos, neg := 0, 0
	negate := 0 // words left in which a yes word is negated
	for i := range ts.n {
		t := ts.t[i].s
		if ts.t[i].num {
			return false, false
		}
		if negate > 0 && unsureWords[t] {
			return false, false // "not sure", "no sé"
		}
		switch {
		case negators[t]:
			neg++
			negate = 3
			continue
		case noWords[t]:
			neg++
		case yesWords[t] || (t == "eso" || t == "asi") && i+1 < ts.n && ts.t[i+1].s == "es":
			if negate > 0 {
				negate = 0 // "not right": already counted as one no
				continue
			}
			pos++
		}
		if negate > 0 {
			negate--
		}
	}
	switch {
	case pos > 0 && neg == 0:
		return true, true
	case neg > 0 && pos == 0:
		return false, true
	}
	return false, false
}

// ParseLanguageChoice reads the answer to the language menu: "español",
// "Spanish", "espanol", "en español por favor" select Spanish; "English",
// "inglés" select English. ok is false when neither or both are named, or
// the caller asks for a person.
func ParseLanguageChoice(text string) (Lang, bool) {
	f, fok := fold(text)
	if !fok {
		return "", false
	}
	var ts tokens
	if !tokenize(f, &ts) || personTokens(&ts) {
		return "", false
	}
	es, en := false, false
	for i := range ts.n {
		switch ts.t[i].s {
		case "espanol", "spanish", "castellano", "espanhol":
			es = true
		case "english", "ingles":
			en = true
		}
	}
	switch {
	case es && !en:
		return Spanish, true
	case en && !es:
		return English, true
	}
	return "", false
}
