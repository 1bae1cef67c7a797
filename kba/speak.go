package kba

import "strings"

// SpeakDate renders d for the read-back prompt: "January fifth, nineteen
// eighty" in English, "cinco de enero de mil novecientos ochenta" in Spanish.
// The result is personal data; it belongs in a <Say>, never in a log.
func SpeakDate(d Date, lang Lang) string {
	if !d.valid() {
		return ""
	}
	var b strings.Builder
	if lang == Spanish {
		if d.Day == 1 {
			b.WriteString("primero")
		} else {
			esCardinal(&b, d.Day)
		}
		b.WriteString(" de ")
		b.WriteString(monthName(d.Month, lang))
		b.WriteString(" de ")
		esCardinal(&b, d.Year)
		return b.String()
	}
	b.WriteString(monthName(d.Month, lang))
	b.WriteByte(' ')
	enOrdinal(&b, d.Day)
	b.WriteString(", ")
	enYear(&b, d.Year)
	return b.String()
}

// enBelow100 writes 0-99 as words ("forty-two").
func enBelow100(b *strings.Builder, v int) {
	if v < 20 {
		b.WriteString(enUnits[v])
		return
	}
	b.WriteString(enTens[v/10])
	if v%10 != 0 {
		b.WriteByte('-')
		b.WriteString(enUnits[v%10])
	}
}

func enOrdinal(b *strings.Builder, day int) {
	switch {
	case day < 20:
		b.WriteString(enOrdUnits[day])
	case day%10 == 0:
		b.WriteString(strings.TrimSuffix(enTens[day/10], "y"))
		b.WriteString("ieth")
	default:
		b.WriteString(enTens[day/10])
		b.WriteByte('-')
		b.WriteString(enOrdUnits[day%10])
	}
}

// enYear writes a year the way people say it: "nineteen eighty", "nineteen
// oh five", "nineteen hundred", "two thousand five", "twenty twenty".
func enYear(b *strings.Builder, y int) {
	hi, lo := y/100, y%100
	switch {
	case y >= 2000 && y < 2010:
		b.WriteString("two thousand")
		if lo > 0 {
			b.WriteByte(' ')
			b.WriteString(enUnits[lo])
		}
	case hi >= 10 && hi < 100:
		enBelow100(b, hi)
		switch {
		case lo == 0:
			b.WriteString(" hundred")
		case lo < 10:
			b.WriteString(" oh ")
			b.WriteString(enUnits[lo])
		default:
			b.WriteByte(' ')
			enBelow100(b, lo)
		}
	default:
		var buf [8]byte
		b.Write(itoa(buf[:0], y))
	}
}

// esCardinal writes 0-9999 in Spanish words ("mil novecientos ochenta").
func esCardinal(b *strings.Builder, v int) {
	sp := func() {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), " ") {
			b.WriteByte(' ')
		}
	}
	if v >= 1000 {
		if v/1000 > 1 {
			b.WriteString(esUnits[v/1000])
			b.WriteByte(' ')
		}
		b.WriteString("mil")
		v %= 1000
		if v == 0 {
			return
		}
	}
	if v >= 100 {
		sp()
		if v == 100 {
			b.WriteString("cien")
			return
		}
		b.WriteString(esHundreds[v/100])
		v %= 100
		if v == 0 {
			return
		}
	}
	sp()
	switch {
	case v < 30:
		b.WriteString(esUnits[v])
	default:
		b.WriteString(esTens[v/10])
		if v%10 != 0 {
			b.WriteString(" y ")
			b.WriteString(esUnits[v%10])
		}
	}
}
