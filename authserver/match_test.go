package authserver

import (
	"fmt"
	"math"
	"testing"
)

func TestJaroWinkler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want float64
	}{
		// Winkler's published examples.
		{"martha", "marhta", 0.9611},
		{"dwayne", "duane", 0.8400},
		{"dixon", "dicksonx", 0.8133},
		{"", "", 1},
		{"a", "", 0},
		{"abc", "xyz", 0},
		{"garcia", "garza", 0.8756},
		{"garcia", "garsia", 0.9222},
		{"smith", "smyth", 0.8933},
		{"hernandez", "fernandez", 0.9259},
	}
	for _, tt := range tests {
		got := jaroWinkler(tt.a, tt.b)
		if math.Abs(got-tt.want) > 0.00005 {
			t.Errorf("jaroWinkler(%q, %q) = %.4f, want %.4f", tt.a, tt.b, got, tt.want)
		}
		if rev := jaroWinkler(tt.b, tt.a); math.Abs(rev-got) > 1e-12 {
			t.Errorf("jaroWinkler not symmetric on %q, %q", tt.a, tt.b)
		}
	}
}

func TestDoubleMetaphone(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, primary, alternate string }{
		{"smith", "SM0", "XMT"},
		{"schmidt", "XMT", "SMT"},
		{"garcia", "KRS", "KRX"},
		{"garza", "KRS", "KRS"},
		{"gonzalez", "KNSL", "KNSL"},
		{"hernandez", "HRNN", "HRNN"},
		{"jose", "HS", "HS"},
		{"jimenez", "JMNS", "AMNS"},
		{"xavier", "SF", "SFR"},
		{"catherine", "K0RN", "KTRN"},
		{"kathryn", "K0RN", "KTRN"},
		{"knight", "NT", "NT"},
		{"wright", "RT", "RT"},
		{"wong", "ANK", "FNK"},
		{"castillo", "KSTL", "KST"},
		{"mcdonald", "MKTN", "MKTN"},
		{"phillips", "FLPS", "FLPS"},
		{"chavez", "XFS", "XFS"},
		{"schneider", "XNTR", "SNTR"},
		{"zhang", "JNK", "JNK"},
		{"", "", ""},
	}
	for _, tt := range tests {
		p, a := doubleMetaphone(tt.in)
		if p != tt.primary || a != tt.alternate {
			t.Errorf("doubleMetaphone(%q) = %s/%s, want %s/%s", tt.in, p, a, tt.primary, tt.alternate)
		}
	}
}

func TestNameTokens(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"María-José O'Neil", "[maria jose o neil]"},
		{"  GARCÍA   lópez ", "[garcia lopez]"},
		{"Müller", "[muller]"},
		{"Straße", "[strasse]"},
		{"de la Cruz", "[de la cruz]"},
		{"Nguyễn", "[nguyn]"}, // Vietnamese letters are outside foldTable: dropped, on both sides alike
		{"1234", "[]"},
	}
	for _, tt := range tests {
		if got := fmt.Sprint(nameTokens(tt.in)); got != tt.want {
			t.Errorf("nameTokens(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestNameMatchThresholds documents the decisions the thresholds make.
func TestNameMatchThresholds(t *testing.T) {
	t.Parallel()
	family := []struct {
		claimed, stored string
		want            bool
	}{
		{"Garcia", "García", true},       // accent
		{"GARCIA", "garcia", true},       // case
		{"Garsia", "García", true},       // JW 0.92, same initial
		{"Smyth", "Smith", true},         // codes equal, JW 0.89
		{"Gonsales", "Gonzalez", true},   // codes equal, JW 0.88
		{"Rodrigues", "Rodríguez", true}, // JW 0.96
		{"Lopez", "López-Ortega", true},  // one of two surnames
		{"Lopez Ortega", "López-Ortega", true},
		{"LopezOrtega", "López Ortega", true},
		{"Mc Donald", "McDonald", true},   // spacing
		{"O Brien", "O'Brien", true},      // apostrophe
		{"Garza", "García", false},        // codes equal but JW 0.875
		{"Fernandez", "Hernández", false}, // JW 0.93 but other initial, other code
		{"Schmidt", "Smith", false},       // JW 0.74
		{"Jones", "Smith", false},
	}
	for _, tt := range family {
		if got := familyMatch(newNameKeys(tt.claimed), newNameKeys(tt.stored)); got != tt.want {
			t.Errorf("familyMatch(%q, %q) = %v, want %v", tt.claimed, tt.stored, got, tt.want)
		}
	}
	given := []struct {
		claimed, stored string
		want            bool
	}{
		{"Jon", "John", true},          // JW 0.93
		{"Kathryn", "Catherine", true}, // codes equal
		{"M", "María", true},           // initial
		{"Maria", "Maria Elena", true}, // first of two given names
		{"Mario", "María", true},       // JW 0.92: the given name is the weakest factor
		{"Ana", "Anna", true},
		{"Peter", "María", false},
		{"J", "María", false},
	}
	for _, tt := range given {
		if got := givenMatch(newNameKeys(tt.claimed), newNameKeys(tt.stored)); got != tt.want {
			t.Errorf("givenMatch(%q, %q) = %v, want %v", tt.claimed, tt.stored, got, tt.want)
		}
	}
}

func BenchmarkJaroWinkler(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		jaroWinkler("rodriguez", "rodrigues")
	}
}

func BenchmarkDoubleMetaphone(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		doubleMetaphone("castillo")
	}
}

// BenchmarkMatch is the cost of checking one set of answers against the
// demo file (all patients, all factors, as every request does).
func BenchmarkMatch(b *testing.B) {
	s := &Server{hashKey: []byte("k")}
	for _, p := range mustPatients(b) {
		s.records = append(s.records, newRecord(p, s.hashKey))
	}
	a, oe := parseKBA(challengeRequest{givenName: "Maria", familyName: "Garcia", birthdate: "1980-01-05", ssnLast4: "1234"})
	if oe != nil {
		b.Fatal(oe.Description)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.match(a).rec == nil {
			b.Fatal("no match")
		}
	}
}
