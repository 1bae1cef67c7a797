package prompts

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestCatalogueComplete(t *testing.T) {
	c, err := Load("en-US")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.Languages(), ","), "en-US,es-US"; got != want {
		t.Fatalf("Languages()=%s, want %s", got, want)
	}
	for _, lang := range c.Languages() {
		if c.Lookup(lang).Voice == "" {
			t.Errorf("%s: no default voice", lang)
		}
		for _, id := range All() {
			if c.Text(lang, id) == "" {
				t.Errorf("%s: %s is empty", lang, id)
			}
		}
	}
}

func TestText(t *testing.T) {
	c, err := Load("en-US")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang string
		id   ID
		vars []string
		want string
	}{
		{"en-US", Greeting, []string{"org", "Acme Clinic"}, "Thank you for calling Acme Clinic."},
		{"es-US", Greeting, []string{"org", "Acme Clinic"}, "Gracias por llamar a Acme Clinic."},
		{"fr-FR", AskName, nil, "Please say your first and last name."},
		{"en-US", ConfirmDOB, []string{"date", "January fifth, nineteen eighty"}, "I heard January fifth, nineteen eighty."},
	}
	for _, tt := range tests {
		if got := c.Text(tt.lang, tt.id, tt.vars...); !strings.HasPrefix(got, tt.want) {
			t.Errorf("Text(%s,%s)=%q, want prefix %q", tt.lang, tt.id, got, tt.want)
		}
	}
}

func TestLoadFSRejectsIncomplete(t *testing.T) {
	fsys := fstest.MapFS{"xx.json": {Data: []byte(`{"language":"xx","voice":"v","prompts":{"greeting":"hi"}}`)}}
	if _, err := LoadFS(fsys, "xx"); err == nil || !strings.Contains(err.Error(), "missing language_menu, ask_name") {
		t.Fatalf("LoadFS incomplete: err=%v", err)
	}
}
