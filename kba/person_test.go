package kba

import "testing"

func TestWantsPerson(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text string
		lang Lang
		want bool
	}{
		{"agent", English, true},
		{"Agent!", English, true},
		{"representative please", English, true},
		{"operator", English, true},
		{"I want to talk to someone", English, true},
		{"can I speak to a real person", English, true},
		{"customer service", English, true},
		{"front desk", English, true},
		{"I need a nurse", English, true},
		{"agent-smith", English, true},
		{"representante", Spanish, true},
		{"quiero hablar con una persona", Spanish, true},
		{"pásame con alguien", Spanish, true},
		{"servicio al cliente", Spanish, true},
		{"operadora por favor", Spanish, true},
		{"agent", Spanish, true}, // callers switch languages to ask for help
		{"representante", English, true},
		// Answers, and words that only look like requests.
		{"Maria Garcia", English, false},
		{"Doctor Emily Chen", English, false},
		{"Persona Smith", English, false},
		{"person", English, false},
		{"persona", Spanish, false},
		{"I don't know", English, false},
		{"one two three four", English, false},
		{"customer", English, false},
		{"service", English, false},
		{"servicio cliente", Spanish, false},
		{"", English, false},
	}
	for _, tt := range tests {
		if got := WantsPerson(tt.text, tt.lang); got != tt.want {
			t.Errorf("WantsPerson(%q, %s) = %v, want %v", tt.text, tt.lang, got, tt.want)
		}
	}
}

// BenchmarkWantsPerson is the dialog's cost per spoken answer.
func BenchmarkWantsPerson(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		WantsPerson("my date of birth is January fifth nineteen eighty", English)
	}
}
