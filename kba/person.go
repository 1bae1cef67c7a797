package kba

// maxPersonWords bounds the words WantsPerson looks at.
const maxPersonWords = 64

// WantsPerson reports whether a speech transcript asks for a person instead
// of answering: "agent", "representative", "operator", "I want to talk to
// someone", "a real person", "representante", "hablar con una persona",
// "quiero un agente". Both languages' words count whatever lang is: callers
// ask for help in the language they are most at ease in. The parsers never
// read such a transcript as an answer; the dialog uses WantsPerson to offer
// the human fallback at once.
func WantsPerson(text string, lang Lang) bool {
	_ = lang
	if len(text) > maxInput {
		text = text[:maxInput]
	}
	var buf [maxInput]byte
	return personIn(foldAppend(buf[:0], text))
}

// personIn is WantsPerson over folded bytes.
func personIn(f []byte) bool {
	var ps personScan
	return ps.feed(f) || ps.done()
}

// feed adds the words of folded bytes: the runs of letters, whatever
// separates them ("agent-smith" asks for an agent). true means the words so
// far ask for a person.
func (ps *personScan) feed(f []byte) bool {
	for i := 0; i < len(f); {
		if !isLetter(f[i]) {
			i++
			continue
		}
		j := i
		for j < len(f) && isLetter(f[j]) {
			j++
		}
		// The conversion does not allocate: add only compares it.
		if ps.add(string(f[i:j])) {
			return true
		}
		i = j
	}
	return false
}

// personTokens is WantsPerson over a tokenized transcript.
func personTokens(ts *tokens) bool {
	var ps personScan
	for i := range ts.n {
		if !ts.t[i].num && ps.add(ts.t[i].s) {
			return true
		}
	}
	return ps.done()
}

// personScan reads folded words one at a time and tells whether they ask
// for a person: a word that names one by its job ("agent", "operador"), or
// a word for anybody ("someone", "persona") with a word of asking ("talk",
// "real", "hablar").
type personScan struct {
	noun, ask   bool
	prev, prev2 kindOfWord
}

// kindOfWord is what personScan remembers of the words before: enough for
// "customer service", "front desk" and "servicio al cliente".
type kindOfWord uint8

const (
	pwOther kindOfWord = iota
	pwCustomer
	pwFront
	pwServicio
	pwAl
)

// add feeds one word; true means the words so far ask for a person.
func (ps *personScan) add(w string) bool {
	k := pwOther
	switch w {
	case "agent", "agents", "representative", "representatives", "operator", "operators", "receptionist",
		"human", "humans", "supervisor", "agente", "agentes", "representante", "representantes", "operador",
		"operadora", "recepcionista", "humano", "humana", "asesor", "asesora":
		return true
	case "service", "care", "support":
		if ps.prev == pwCustomer {
			return true
		}
	case "desk":
		if ps.prev == pwFront {
			return true
		}
	case "cliente":
		if ps.prev == pwAl && ps.prev2 == pwServicio {
			return true
		}
	case "customer":
		k = pwCustomer
	case "front":
		k = pwFront
	case "servicio":
		k = pwServicio
	case "al":
		k = pwAl
	case "person", "persons", "people", "someone", "somebody", "anyone", "anybody", "nurse",
		"persona", "personas", "alguien", "enfermera", "enfermero":
		ps.noun = true
	case "speak", "talk", "transfer", "connect", "real", "live", "actual", "want", "need", "get",
		"quiero", "necesito", "hablar", "habla", "hable", "comunicar", "comunicarme", "comuniqueme",
		"pasar", "pasame", "paseme", "transferir", "transfiera", "transfiere", "verdadera", "viva":
		ps.ask = true
	}
	ps.prev2, ps.prev = ps.prev, k
	return false
}

// done reports, after the last word, whether the words asked for a person.
func (ps *personScan) done() bool { return ps.noun && ps.ask }
