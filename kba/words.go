package kba

import "time"

// kind classifies a word of a spoken number or date.
type kind uint8

const (
	kNone     kind = iota
	kZero          // "zero", "oh", "cero": always a digit of its own
	kUnit          // 1-9
	kTeen          // 10-19; Spanish 21-29 ("veinticinco") behaves the same
	kTens          // 20, 30, ... 90: a following unit joins it
	kHundreds      // Spanish "cien", "doscientos": 100-900
	kHundred       // English "hundred": multiplies what precedes
	kThousand      // "thousand", "mil"
	kOrdUnit       // "first".."ninth", "primero": joins a preceding tens
	kOrd           // "tenth".."nineteenth", "twentieth", "thirtieth"
	kMonth         // month name or abbreviation
	kMult          // "double", "triple", "doble"
	kJoin          // "and", "y": filler that does not end a number ("one hundred and five")
	kFiller        // words a recogniser or caller adds around an answer
)

// word is the meaning of one folded word.
type word struct {
	k kind
	v int
}

// The lookup tables are constant data, shared by all parses.
var (
	enWords = map[string]word{
		"zero": {kZero, 0}, "oh": {kZero, 0}, "o": {kZero, 0},
		"one": {kUnit, 1}, "two": {kUnit, 2}, "three": {kUnit, 3}, "four": {kUnit, 4},
		"five": {kUnit, 5}, "six": {kUnit, 6}, "seven": {kUnit, 7}, "eight": {kUnit, 8}, "nine": {kUnit, 9},
		"ten": {kTeen, 10}, "eleven": {kTeen, 11}, "twelve": {kTeen, 12}, "thirteen": {kTeen, 13},
		"fourteen": {kTeen, 14}, "fifteen": {kTeen, 15}, "sixteen": {kTeen, 16}, "seventeen": {kTeen, 17},
		"eighteen": {kTeen, 18}, "nineteen": {kTeen, 19},
		"twenty": {kTens, 20}, "thirty": {kTens, 30}, "forty": {kTens, 40}, "fourty": {kTens, 40},
		"fifty": {kTens, 50}, "sixty": {kTens, 60}, "seventy": {kTens, 70}, "eighty": {kTens, 80}, "ninety": {kTens, 90},
		"hundred": {kHundred, 100}, "thousand": {kThousand, 1000},
		"first": {kOrdUnit, 1}, "second": {kOrdUnit, 2}, "third": {kOrdUnit, 3}, "fourth": {kOrdUnit, 4},
		"fifth": {kOrdUnit, 5}, "sixth": {kOrdUnit, 6}, "seventh": {kOrdUnit, 7}, "eighth": {kOrdUnit, 8}, "ninth": {kOrdUnit, 9},
		"tenth": {kOrd, 10}, "eleventh": {kOrd, 11}, "twelfth": {kOrd, 12}, "thirteenth": {kOrd, 13},
		"fourteenth": {kOrd, 14}, "fifteenth": {kOrd, 15}, "sixteenth": {kOrd, 16}, "seventeenth": {kOrd, 17},
		"eighteenth": {kOrd, 18}, "nineteenth": {kOrd, 19}, "twentieth": {kOrd, 20}, "thirtieth": {kOrd, 30},
		"january": {kMonth, 1}, "jan": {kMonth, 1}, "february": {kMonth, 2}, "feb": {kMonth, 2},
		"march": {kMonth, 3}, "mar": {kMonth, 3}, "april": {kMonth, 4}, "apr": {kMonth, 4}, "may": {kMonth, 5},
		"june": {kMonth, 6}, "jun": {kMonth, 6}, "july": {kMonth, 7}, "jul": {kMonth, 7},
		"august": {kMonth, 8}, "aug": {kMonth, 8}, "september": {kMonth, 9}, "sept": {kMonth, 9}, "sep": {kMonth, 9},
		"october": {kMonth, 10}, "oct": {kMonth, 10}, "november": {kMonth, 11}, "nov": {kMonth, 11},
		"december": {kMonth, 12}, "dec": {kMonth, 12},
		"double": {kMult, 2}, "triple": {kMult, 3},
		"and": {kJoin, 0},
		"uh":  {kFiller, 0}, "um": {kFiller, 0}, "umm": {kFiller, 0}, "uhm": {kFiller, 0}, "er": {kFiller, 0},
		"erm": {kFiller, 0}, "ah": {kFiller, 0}, "hmm": {kFiller, 0},
		"my": {kFiller, 0}, "date": {kFiller, 0}, "of": {kFiller, 0}, "birth": {kFiller, 0}, "birthday": {kFiller, 0},
		"is": {kFiller, 0}, "its": {kFiller, 0}, "it": {kFiller, 0}, "was": {kFiller, 0}, "born": {kFiller, 0},
		"on": {kFiller, 0}, "the": {kFiller, 0}, "i": {kFiller, 0}, "im": {kFiller, 0}, "am": {kFiller, 0},
		"so": {kFiller, 0}, "well": {kFiller, 0}, "okay": {kFiller, 0}, "ok": {kFiller, 0},
		"yes": {kFiller, 0}, "yeah": {kFiller, 0}, "sure": {kFiller, 0}, "year": {kFiller, 0}, "in": {kFiller, 0},
		"thats": {kFiller, 0}, "are": {kFiller, 0}, "number": {kFiller, 0}, "code": {kFiller, 0},
		"digits": {kFiller, 0}, "digit": {kFiller, 0}, "social": {kFiller, 0}, "security": {kFiller, 0},
		"ssn": {kFiller, 0}, "last": {kFiller, 0}, "please": {kFiller, 0},
	}
	esWords = map[string]word{
		"cero": {kZero, 0},
		"uno":  {kUnit, 1}, "un": {kUnit, 1}, "una": {kUnit, 1}, "dos": {kUnit, 2}, "tres": {kUnit, 3},
		"cuatro": {kUnit, 4}, "cinco": {kUnit, 5}, "seis": {kUnit, 6}, "siete": {kUnit, 7}, "ocho": {kUnit, 8}, "nueve": {kUnit, 9},
		"diez": {kTeen, 10}, "once": {kTeen, 11}, "doce": {kTeen, 12}, "trece": {kTeen, 13}, "catorce": {kTeen, 14},
		"quince": {kTeen, 15}, "dieciseis": {kTeen, 16}, "diecisiete": {kTeen, 17}, "dieciocho": {kTeen, 18}, "diecinueve": {kTeen, 19},
		"veintiuno": {kTeen, 21}, "veintiun": {kTeen, 21}, "veintiuna": {kTeen, 21}, "veintidos": {kTeen, 22}, "veintitres": {kTeen, 23},
		"veinticuatro": {kTeen, 24}, "veinticinco": {kTeen, 25}, "veintiseis": {kTeen, 26}, "veintisiete": {kTeen, 27},
		"veintiocho": {kTeen, 28}, "veintinueve": {kTeen, 29},
		"veinte": {kTens, 20}, "treinta": {kTens, 30}, "cuarenta": {kTens, 40}, "cincuenta": {kTens, 50},
		"sesenta": {kTens, 60}, "setenta": {kTens, 70}, "ochenta": {kTens, 80}, "noventa": {kTens, 90},
		"cien": {kHundreds, 100}, "ciento": {kHundreds, 100}, "doscientos": {kHundreds, 200}, "trescientos": {kHundreds, 300},
		"cuatrocientos": {kHundreds, 400}, "quinientos": {kHundreds, 500}, "seiscientos": {kHundreds, 600},
		"setecientos": {kHundreds, 700}, "ochocientos": {kHundreds, 800}, "novecientos": {kHundreds, 900},
		"mil":     {kThousand, 1000},
		"primero": {kOrdUnit, 1}, "primer": {kOrdUnit, 1},
		"enero": {kMonth, 1}, "febrero": {kMonth, 2}, "marzo": {kMonth, 3}, "abril": {kMonth, 4}, "mayo": {kMonth, 5},
		"junio": {kMonth, 6}, "julio": {kMonth, 7}, "agosto": {kMonth, 8}, "septiembre": {kMonth, 9}, "setiembre": {kMonth, 9},
		"octubre": {kMonth, 10}, "noviembre": {kMonth, 11}, "diciembre": {kMonth, 12},
		"doble": {kMult, 2}, "triple": {kMult, 3},
		"y":  {kJoin, 0},
		"eh": {kFiller, 0}, "em": {kFiller, 0}, "este": {kFiller, 0}, "pues": {kFiller, 0}, "bueno": {kFiller, 0},
		"mi": {kFiller, 0}, "fecha": {kFiller, 0}, "de": {kFiller, 0}, "del": {kFiller, 0}, "nacimiento": {kFiller, 0},
		"es": {kFiller, 0}, "el": {kFiller, 0}, "la": {kFiller, 0}, "los": {kFiller, 0}, "naci": {kFiller, 0},
		"fue": {kFiller, 0}, "en": {kFiller, 0}, "ano": {kFiller, 0}, "si": {kFiller, 0}, "son": {kFiller, 0},
		"numero": {kFiller, 0}, "codigo": {kFiller, 0}, "digitos": {kFiller, 0}, "ultimos": {kFiller, 0},
		"seguro": {kFiller, 0}, "social": {kFiller, 0}, "por": {kFiller, 0}, "favor": {kFiller, 0},
	}
	// enDigitHomophones are what recognisers write for a digit they heard
	// ("7 for 9 oh", "to ate six won"). They count only where digits are
	// expected (SSN-4, a code, a date said as numbers): anywhere else they
	// are the words they look like, and a name is never read through them.
	enDigitHomophones = map[string]word{
		"to": {kUnit, 2}, "too": {kUnit, 2}, "for": {kUnit, 4}, "fore": {kUnit, 4},
		"ate": {kUnit, 8}, "won": {kUnit, 1},
	}
	// esDigitHomophones: the Spanish recogniser's real words for digits
	// ("cuarto" for cuatro) and spellings by sound ("sero", "sinco").
	esDigitHomophones = map[string]word{
		"sero": {kZero, 0}, "cerro": {kZero, 0}, "cuarto": {kUnit, 4}, "sinco": {kUnit, 5},
		"zinco": {kUnit, 5}, "mueve": {kUnit, 9},
	}
)

func lookup(s string, lang Lang, digits bool) word {
	if lang == Spanish {
		if w, ok := esWords[s]; ok {
			return w
		}
		// Callers switch languages mid-answer; an English month name is
		// still a month ("5 de January de 1980").
		if w := enWords[s]; w.k == kMonth {
			return w
		}
		if digits {
			return esDigitHomophones[s]
		}
		return word{}
	}
	if w, ok := enWords[s]; ok {
		return w
	}
	if digits {
		return enDigitHomophones[s]
	}
	return word{}
}

var (
	enMonths = [...]string{"", "January", "February", "March", "April", "May", "June", "July",
		"August", "September", "October", "November", "December"}
	esMonths = [...]string{"", "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio",
		"agosto", "septiembre", "octubre", "noviembre", "diciembre"}
	enUnits = [...]string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
		"ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"}
	enTens     = [...]string{"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
	enOrdUnits = [...]string{"", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
		"tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
		"eighteenth", "nineteenth"}
	esUnits = [...]string{"cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
		"diez", "once", "doce", "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve",
		"veinte", "veintiuno", "veintidós", "veintitrés", "veinticuatro", "veinticinco", "veintiséis",
		"veintisiete", "veintiocho", "veintinueve"}
	esTens     = [...]string{"", "", "veinte", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa"}
	esHundreds = [...]string{"", "ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos", "seiscientos",
		"setecientos", "ochocientos", "novecientos"}
)

func monthName(m time.Month, lang Lang) string {
	if m < 1 || m > 12 {
		return ""
	}
	if lang == Spanish {
		return esMonths[m]
	}
	return enMonths[m]
}
