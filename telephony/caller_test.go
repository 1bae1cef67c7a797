package telephony

import "testing"

// TestNormaliseNumber: every written form of one number is one E.164
// number; what is withheld, a placeholder, or not a phone number is none.
func TestNormaliseNumber(t *testing.T) {
	tests := []struct {
		from, want string
	}{
		{"+15550003333", "+15550003333"},
		{"+1 555 000 3333", "+15550003333"},
		{"+1 (555) 000-3333", "+15550003333"},
		{"15550003333", "+15550003333"},
		{"5550003333", "+15550003333"},
		{"555.000.3333", "+15550003333"},
		{"0044 20 7946 0000", "+442079460000"},
		{"+44 20 7946 0000", "+442079460000"},
		{" +15550003333 ", "+15550003333"},
		{"+5511987654321", "+5511987654321"},
		// Twilio's placeholders for withheld caller IDs, and the words.
		{"+266696687", ""},
		{"+86282452253", ""},
		{"+7378742833", ""},
		{"+2562533", ""},
		{"266696687", ""},
		{"Anonymous", ""},
		{"anonymous", ""},
		{"Restricted", ""},
		{"Unavailable", ""},
		{"UNKNOWN", ""},
		// Not phone numbers.
		{"", ""},
		{"client:alice", ""},
		{"sip:alice@example.com", ""},
		{"+1555000333x12", ""},
		{"020 7946 0000", ""}, // a national number of some country: unknowable
		{"+123", ""},
		{"+1234567890123456", ""},
		{"++15550003333", ""},
		{"+1555+0003333", ""},
	}
	for _, tt := range tests {
		got, ok := normaliseNumber(tt.from)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("normaliseNumber(%q) = %q, %v; want %q", tt.from, got, ok, tt.want)
		}
	}
}

// TestCallerRefBuckets is the review's finding (issue 9, item 3) as a test:
// withheld callers must not share one bucket, and the forms of one number
// must.
func TestCallerRefBuckets(t *testing.T) {
	key := []byte("caller-ref-test-key-0123456789abcdef")
	for _, withheld := range []string{"+266696687", "+86282452253", "+7378742833", "+2562533", "Anonymous", "Restricted", "Unavailable"} {
		if ref := callerRef(key, withheld); ref != "" {
			t.Errorf("callerRef(%q) = %q: withheld callers would share a bucket", withheld, ref)
		}
	}
	want := callerRef(key, "+15550003333")
	if want == "" {
		t.Fatal("no reference for an E.164 number")
	}
	for _, form := range []string{"+1 555 000 3333", "15550003333", "(555) 000-3333"} {
		if got := callerRef(key, form); got != want {
			t.Errorf("callerRef(%q) = %q, want the bucket of +15550003333 (%q)", form, got, want)
		}
	}
	if callerRef([]byte("another-key-0123456789abcdef012345"), "+15550003333") == want {
		t.Error("the reference does not depend on the key")
	}
}

// FuzzNormaliseNumber: whatever Twilio puts in From, the result is empty or
// E.164, and normalising is idempotent.
func FuzzNormaliseNumber(f *testing.F) {
	for _, s := range []string{"+15550003333", "15550003333", "Anonymous", "+266696687", "client:x", "0044 20 7946 0000", "(555) 000-3333"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, from string) {
		n, ok := normaliseNumber(from)
		if !ok {
			if n != "" {
				t.Fatalf("%q: not a number but %q", from, n)
			}
			return
		}
		if len(n) < 8 || len(n) > 16 || n[0] != '+' {
			t.Fatalf("%q -> %q: not E.164", from, n)
		}
		for _, c := range n[1:] {
			if c < '0' || c > '9' {
				t.Fatalf("%q -> %q: not E.164", from, n)
			}
		}
		if again, ok := normaliseNumber(n); !ok || again != n {
			t.Fatalf("%q -> %q -> %q: not idempotent", from, n, again)
		}
	})
}
