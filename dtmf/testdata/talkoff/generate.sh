#!/bin/sh
# Regenerates the talk-off clips: synthetic speech (espeak-ng, Debian) of the
# things callers say to this IVR, resampled to 8 kHz mono G.711 μ-law like a
# Twilio media stream. The Bellcore/Mitel talk-off tapes are copyrighted, so
# this corpus substitutes for them. Run from this directory.
set -eu
i=0
clip() { # voice pitch speed text
	i=$((i + 1))
	name=$(printf '%02d-%s.wav' "$i" "$1")
	espeak-ng -v "$1" -p "$2" -s "$3" -w /tmp/talkoff.wav "$4"
	sox /tmp/talkoff.wav -r 8000 -c 1 -e u-law -b 8 "$name"
}
clip en-us 50 160 "My date of birth is March fourteenth, nineteen eighty seven."
clip en-us 70 175 "The last four digits of my social are one five nine two."
clip en-us 30 150 "Zero one two three four five six seven eight nine."
clip en-gb 50 160 "My name is Margaret Anne Fitzgerald-O'Brien."
clip en-us 90 190 "Yes. No. Sorry, could you repeat that? I did not catch it."
clip en-us 20 140 "Nine one one. Eight hundred, five five five, zero one nine nine."
clip en-gb 60 170 "The twenty-second of November, two thousand and one."
clip en-us 99 200 "Seven seven seven, pound, star, hash, operator, agent please."
clip es 50 160 "Mi fecha de nacimiento es el catorce de marzo de mil novecientos ochenta y siete."
clip es 70 170 "Los últimos cuatro dígitos son uno, cinco, nueve, dos."
clip es 30 150 "Cero uno dos tres cuatro cinco seis siete ocho nueve."
clip es 60 165 "Me llamo José Luis Hernández García."
clip es-419 80 180 "Sí, no, repita por favor. Quiero hablar con un agente."
clip es-419 40 155 "Treinta y uno de diciembre de dos mil cinco."
clip en-us+f3 60 165 "Christopher Nguyen, born July fourth, nineteen sixty two."
clip es+f2 60 165 "Guadalupe Martínez, nacida el primero de enero de mil novecientos noventa."
rm -f /tmp/talkoff.wav
