package telephony

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// callerRef stands for the caller's number wherever the gateway keeps it:
// the per-caller limit and the WebSocket parameters (so the number never
// goes into TwiML). A keyed hash of the number in E.164 form, so every way
// of writing one number ("+1 555 000 3333", "15550003333") shares one
// bucket. Withheld caller IDs, Twilio's placeholders for them, and what is
// not a phone number ("client:alice", "sip:…") get "": they share no bucket,
// which would otherwise let a few failing calls lock out every caller who
// withholds their number.
func callerRef(key []byte, from string) string {
	return newCallerRefs(key).ref(from)
}

// callerRefs computes caller references with pooled HMACs: one per
// webhook is on the hot path.
type callerRefs struct{ pool sync.Pool }

func newCallerRefs(key []byte) *callerRefs {
	c := &callerRefs{}
	c.pool.New = func() any { return hmac.New(sha256.New, key) }
	return c
}

func (c *callerRefs) ref(from string) string {
	n, ok := normaliseNumber(from)
	if !ok {
		return ""
	}
	m := c.pool.Get().(hash.Hash)
	m.Reset()
	var b [48]byte
	m.Write(append(append(b[:0], "ivr-caller:"...), n...))
	var sum [sha256.Size]byte
	out := m.Sum(sum[:0])
	c.pool.Put(m)
	var h [32]byte
	hex.Encode(h[:], out[:16])
	return string(h[:])
}

// normaliseNumber returns from in E.164 form ("+" and 7 to 15 digits), or
// false when it is withheld or not a phone number. Twilio sends E.164 when
// it can; otherwise the raw caller ID, which may carry spaces, dashes,
// dots, brackets, an international "00" prefix or, for North America, no
// "+" at all (numbers of 10 digits, or 11 starting with 1, are read as
// NANP numbers: the gateway answers US numbers).
func normaliseNumber(from string) (string, bool) {
	s := strings.TrimSpace(from)
	if s == "" || strings.ContainsRune(s, ':') || withheldWord(s) {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			plus = true
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '\u00a0':
		default:
			return "", false // letters, extensions ("x12"), anything else
		}
	}
	d := b.String()
	switch {
	case plus:
	case strings.HasPrefix(d, "00"):
		d = d[2:]
	case len(d) == 11 && d[0] == '1':
	case len(d) == 10:
		d = "1" + d
	default:
		return "", false // a national number of another country: no way to know which
	}
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	n := "+" + d
	if withheldPlaceholder(n) {
		return "", false
	}
	return n, true
}

// withheldWord reports the words Twilio and carriers put in From for a
// withheld caller ID.
func withheldWord(s string) bool {
	switch strings.ToLower(s) {
	case "anonymous", "restricted", "unavailable", "unknown", "private", "blocked", "withheld", "unknown caller":
		return true
	}
	return false
}

// withheldPlaceholder reports the numbers Twilio sends for a withheld
// caller ID: the words spelled on a keypad. They pass an E.164 check, so
// without this every anonymous caller would share their bucket.
func withheldPlaceholder(n string) bool {
	switch n {
	case "+266696687", // ANONYMOUS
		"+86282452253", // UNAVAILABLE
		"+7378742833",  // RESTRICTED
		"+2562533":     // BLOCKED
		return true
	}
	return false
}

// streamBinding is the MAC that binds a WebSocket session (Media Streams
// or ConversationRelay) to the call, step and caller reference the TwiML
// opened it for. It travels as a <Parameter> next to them and comes back in
// the session's first message: a leaked upgrade signature (the upgrade URL
// is the same for every call) cannot be used to answer another call's
// questions, or to drop the caller reference and escape the per-caller
// limit, without the gateway's key.
func streamBinding(key []byte, kind, callSid string, step int64, caller string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("ivr-binding-v1|" + kind + "|" + callSid + "|" + strconv.FormatInt(step, 10) + "|" + caller))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// deriveKey derives a purpose-specific key from the gateway's secret, so
// one secret never serves two purposes directly.
func deriveKey(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("ivr-gateway telephony " + label))
	return m.Sum(nil)
}
