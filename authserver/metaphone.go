package authserver

import "strings"

// doubleMetaphone returns the primary and alternate Double Metaphone codes
// (Lawrence Philips, 2000) of a name, each at most 4 characters.
//
// The input is a normalised name: lower-case a-z only (see nameTokens). This
// compact version keeps the rules that matter for English and Spanish
// surnames: silent initials (GN, KN, PN, PS, WR), initial vowels as "A",
// C (CH, CC, CI/CE/CY, CIA), D (DG, DT), G (GH, GN, GE/GI/GY, GLI), H between
// vowels, J (Spanish JOSE/-JA/-JO as H), LL (Spanish -ILLO/-ILLA/-ALLE), MB,
// PH, final -IER R, S (SH, SIO/SIA, SC, SCH, SZ), T (TH as "0", TIO/TIA/TCH),
// W (WR, -EWSKI, WICZ/WITZ), X (KS, silent after final AU/OU), Z (ZH, Spanish
// Z as S) and Slavo-Germanic spellings (W, K, CZ, WITZ). It leaves out the
// rare Italian, Greek, Dutch and French special cases (CAESAR, ORCHESTRA,
// "-AULT", "VAN "/"VON " prefixes with spaces) of the original.
func doubleMetaphone(name string) (primary, alternate string) {
	w := strings.ToUpper(name)
	n := len(w)
	if n == 0 {
		return "", ""
	}
	last := n - 1
	at := func(i int) byte {
		if i < 0 || i >= n {
			return 0
		}
		return w[i]
	}
	is := func(i int, subs ...string) bool {
		if i < 0 {
			return false
		}
		for _, s := range subs {
			if strings.HasPrefix(w[i:], s) {
				return true
			}
		}
		return false
	}
	vowel := func(i int) bool {
		switch at(i) {
		case 'A', 'E', 'I', 'O', 'U', 'Y':
			return true
		}
		return false
	}
	slavo := strings.ContainsAny(w, "WK") || strings.Contains(w, "CZ") || strings.Contains(w, "WITZ")

	var p, s strings.Builder
	add := func(pc, sc string) {
		p.WriteString(pc)
		s.WriteString(sc)
	}
	both := func(c string) { add(c, c) }
	// skip advances past a doubled letter.
	skip := func(i int, c byte) int {
		if at(i+1) == c {
			return i + 2
		}
		return i + 1
	}

	i := 0
	if is(0, "GN", "KN", "PN", "WR", "PS") {
		i = 1
	}
	if w[0] == 'X' {
		both("S")
		i = 1
	}
	for i < n && (p.Len() < 4 || s.Len() < 4) {
		c := w[i]
		switch c {
		case 'A', 'E', 'I', 'O', 'U', 'Y':
			if i == 0 {
				both("A")
			}
			i++
		case 'B':
			both("P")
			i = skip(i, 'B')
		case 'C':
			switch {
			case i > 1 && !vowel(i-2) && is(i-1, "ACH") && at(i+2) != 'I' && (at(i+2) != 'E' || is(i-2, "BACHER", "MACHER")):
				both("K")
				i += 2
			case is(i, "CHIA"):
				both("K")
				i += 2
			case is(i, "CH"):
				switch {
				case i > 0 && is(i, "CHAE"):
					add("K", "X")
				case i == 0 && (is(i+1, "HARAC", "HARIS", "HOR", "HYM", "HIA", "HEM")) && !is(0, "CHORE"):
					both("K")
				case is(0, "SCH") || is(i+2, "T", "S") ||
					((i == 0 || is(i-1, "A", "O", "U", "E")) && is(i+2, "L", "R", "N", "M", "B", "H", "F", "V", "W")):
					both("K")
				case i > 0 && is(0, "MC"):
					both("K")
				case i > 0:
					add("X", "K")
				default:
					both("X")
				}
				i += 2
			case is(i, "CZ") && !is(i-2, "WICZ"):
				add("S", "X")
				i += 2
			case is(i+1, "CIA"):
				both("X")
				i += 3
			case is(i, "CC") && !(i == 1 && w[0] == 'M'):
				if is(i+2, "I", "E", "H") && !is(i+2, "HU") {
					if (i == 1 && w[0] == 'A') || is(i-1, "UCCEE", "UCCES") {
						both("KS")
					} else {
						both("X")
					}
					i += 3
				} else {
					both("K")
					i += 2
				}
			case is(i, "CK", "CG", "CQ"):
				both("K")
				i += 2
			case is(i, "CI", "CE", "CY"):
				if is(i, "CIO", "CIE", "CIA") {
					add("S", "X")
				} else {
					both("S")
				}
				i += 2
			default:
				both("K")
				if is(i+1, "C", "K", "Q") && !is(i+1, "CE", "CI") {
					i += 2
				} else {
					i++
				}
			}
		case 'D':
			switch {
			case is(i, "DG") && is(i+2, "I", "E", "Y"):
				both("J")
				i += 3
			case is(i, "DG"):
				both("TK")
				i += 2
			case is(i, "DT", "DD"):
				both("T")
				i += 2
			default:
				both("T")
				i++
			}
		case 'F':
			both("F")
			i = skip(i, 'F')
		case 'G':
			switch {
			case at(i+1) == 'H':
				switch {
				case i > 0 && !vowel(i-1):
					both("K")
				case i == 0:
					if at(i+2) == 'I' {
						both("J")
					} else {
						both("K")
					}
				case is(i-2, "B", "H", "D") || is(i-3, "B", "H", "D") || is(i-4, "B", "H"):
					// Silent, as in "Hugh", "bough".
				case i > 2 && at(i-1) == 'U' && is(i-3, "C", "G", "L", "R", "T"):
					both("F")
				case at(i-1) != 'I':
					both("K")
				}
				i += 2
			case at(i+1) == 'N':
				switch {
				case i == 1 && vowel(0) && !slavo:
					add("KN", "N")
				case !is(i+2, "EY") && !slavo:
					add("N", "KN")
				default:
					both("KN")
				}
				i += 2
			case is(i+1, "LI") && !slavo:
				add("KL", "L")
				i += 2
			case i == 0 && (at(i+1) == 'Y' || is(i+1, "ES", "EP", "EB", "EL", "EY", "IB", "IL", "IN", "IE", "EI", "ER")):
				add("K", "J")
				i += 2
			case (is(i+1, "ER") || at(i+1) == 'Y') && !is(0, "DANGER", "RANGER", "MANGER") && !is(i-1, "E", "I", "RGY", "OGY"):
				add("K", "J")
				i += 2
			case is(i+1, "E", "I", "Y") || is(i-1, "AGGI", "OGGI"):
				switch {
				case is(0, "SCH") || is(i+1, "ET"):
					both("K")
				case is(i+1, "IER"):
					both("J")
				default:
					add("J", "K")
				}
				i += 2
			default:
				both("K")
				i = skip(i, 'G')
			}
		case 'H':
			if (i == 0 || vowel(i-1)) && vowel(i+1) {
				both("H")
				i += 2
			} else {
				i++
			}
		case 'J':
			switch {
			case is(i, "JOSE"):
				if i == 0 && n == 4 {
					both("H")
				} else {
					add("J", "H")
				}
			case i == 0:
				add("J", "A")
			case vowel(i-1) && !slavo && (at(i+1) == 'A' || at(i+1) == 'O'):
				add("J", "H")
			case i == last:
				add("J", "")
			case !is(i+1, "L", "T", "K", "S", "N", "M", "B", "Z") && !is(i-1, "S", "K", "L"):
				both("J")
			}
			i = skip(i, 'J')
		case 'K':
			both("K")
			i = skip(i, 'K')
		case 'L':
			if at(i+1) == 'L' {
				if (i == n-3 && is(i-1, "ILLO", "ILLA", "ALLE")) ||
					((is(last-1, "AS", "OS") || is(last, "A", "O")) && is(i-1, "ALLE")) {
					add("L", "")
				} else {
					both("L")
				}
				i += 2
			} else {
				both("L")
				i++
			}
		case 'M':
			both("M")
			if (is(i-1, "UMB") && (i+1 == last || is(i+2, "ER"))) || at(i+1) == 'M' {
				i += 2
			} else {
				i++
			}
		case 'N':
			both("N")
			i = skip(i, 'N')
		case 'P':
			if at(i+1) == 'H' {
				both("F")
				i += 2
			} else {
				both("P")
				if is(i+1, "P", "B") {
					i += 2
				} else {
					i++
				}
			}
		case 'Q':
			both("K")
			i = skip(i, 'Q')
		case 'R':
			if i == last && !slavo && is(i-2, "IE") && !is(i-4, "ME", "MA") {
				add("", "R")
			} else {
				both("R")
			}
			i = skip(i, 'R')
		case 'S':
			switch {
			case is(i-1, "ISL", "YSL"):
				i++
			case i == 0 && is(i, "SUGAR"):
				add("X", "S")
				i++
			case is(i, "SH"):
				if is(i+1, "HEIM", "HOEK", "HOLM", "HOLZ") {
					both("S")
				} else {
					both("X")
				}
				i += 2
			case is(i, "SIO", "SIA"):
				if slavo {
					both("S")
				} else {
					add("S", "X")
				}
				i += 3
			case (i == 0 && is(i+1, "M", "N", "L", "W")) || is(i+1, "Z"):
				add("S", "X")
				i = skip(i, 'Z')
			case is(i, "SC"):
				switch {
				case at(i+2) == 'H' && is(i+3, "ER", "EN"):
					add("X", "SK")
				case at(i+2) == 'H' && is(i+3, "OO", "UY", "ED", "EM"):
					both("SK")
				case at(i+2) == 'H' && i == 0 && !vowel(3) && at(3) != 'W':
					add("X", "S")
				case at(i+2) == 'H':
					both("X")
				case is(i+2, "I", "E", "Y"):
					both("S")
				default:
					both("SK")
				}
				i += 3
			default:
				if i == last && is(i-2, "AI", "OI") {
					add("", "S")
				} else {
					both("S")
				}
				if is(i+1, "S", "Z") {
					i += 2
				} else {
					i++
				}
			}
		case 'T':
			switch {
			case is(i, "TION", "TIA", "TCH"):
				both("X")
				i += 3
			case is(i, "TH", "TTH"):
				if is(i+2, "OM", "AM") || is(0, "SCH") {
					both("T")
				} else {
					add("0", "T")
				}
				i += 2
			default:
				both("T")
				if is(i+1, "T", "D") {
					i += 2
				} else {
					i++
				}
			}
		case 'V':
			both("F")
			i = skip(i, 'V')
		case 'W':
			switch {
			case is(i, "WR"):
				both("R")
				i += 2
				continue
			case i == 0 && vowel(i+1):
				add("A", "F")
			case i == 0 && is(i, "WH"):
				both("A")
			}
			switch {
			case (i == last && vowel(i-1)) || is(i-1, "EWSKI", "EWSKY", "OWSKI", "OWSKY") || is(0, "SCH"):
				add("", "F")
				i++
			case is(i, "WICZ", "WITZ"):
				add("TS", "FX")
				i += 4
			default:
				i++
			}
		case 'X':
			if !(i == last && (is(i-3, "IAU", "EAU") || is(i-2, "AU", "OU"))) {
				both("KS")
			}
			if is(i+1, "C", "X") {
				i += 2
			} else {
				i++
			}
		case 'Z':
			switch {
			case at(i+1) == 'H':
				both("J")
				i += 2
			default:
				if is(i+1, "ZO", "ZI", "ZA") || (slavo && i > 0 && at(i-1) != 'T') {
					add("S", "TS")
				} else {
					both("S")
				}
				i = skip(i, 'Z')
			}
		default:
			i++
		}
	}
	return trunc4(p.String()), trunc4(s.String())
}

func trunc4(s string) string {
	if len(s) > 4 {
		return s[:4]
	}
	return s
}
