// Package prompts is the catalogue of what a caller hears, per language.
//
// Each language is one JSON file embedded in the binary (en-US.json,
// es-US.json): its BCP 47 code, the default Twilio <Say> voice, and the text of
// every prompt by ID. Texts may hold {name} placeholders filled at render time;
// the dialog decides which prompt plays, telephony decides how (TwiML <Say> or
// audio), and neither holds wording of its own.
package prompts

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

// ID names one prompt.
type ID string

// The prompts the dialog uses. Every language file must define all of them.
const (
	Greeting      ID = "greeting"
	LanguageMenu  ID = "language_menu"
	AskName       ID = "ask_name"
	RepromptName  ID = "reprompt_name"
	AskSpell      ID = "ask_spell"
	RepromptSpell ID = "reprompt_spell"
	AskDOB        ID = "ask_dob"
	RepromptDOB   ID = "reprompt_dob"
	ConfirmDOB    ID = "confirm_dob"
	AskSSN4       ID = "ask_ssn4"
	RepromptSSN4  ID = "reprompt_ssn4"
	Hold          ID = "hold"
	AskOTP        ID = "ask_otp"
	RepromptOTP   ID = "reprompt_otp"
	MismatchRetry ID = "mismatch_retry"
	Verified      ID = "verified"
	Transfer      ID = "transfer"
	Goodbye       ID = "goodbye"
	Trouble       ID = "trouble"
)

// All lists every prompt ID, in a stable order.
func All() []ID {
	return []ID{Greeting, LanguageMenu, AskName, RepromptName, AskSpell, RepromptSpell,
		AskDOB, RepromptDOB, ConfirmDOB, AskSSN4, RepromptSSN4, Hold,
		AskOTP, RepromptOTP, MismatchRetry, Verified, Transfer, Goodbye, Trouble}
}

//go:embed *.json
var files embed.FS

// Language is one language's prompts.
type Language struct {
	Code    string        `json:"language"`
	Voice   string        `json:"voice"`
	Prompts map[ID]string `json:"prompts"`
}

// Catalogue holds every language. It is read-only after Load and safe for
// concurrent use.
type Catalogue struct {
	langs    map[string]*Language
	fallback string
}

// Load reads the embedded catalogue. fallback is the language used for codes
// the catalogue does not have (normally "en-US").
func Load(fallback string) (*Catalogue, error) {
	return LoadFS(files, fallback)
}

// LoadFS reads every *.json file of fsys as one language.
func LoadFS(fsys fs.FS, fallback string) (*Catalogue, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, fmt.Errorf("prompts: %w", err)
	}
	c := &Catalogue{langs: map[string]*Language{}, fallback: fallback}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("prompts: %s: %w", name, err)
		}
		var l Language
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("prompts: %s: %w", name, err)
		}
		if l.Code == "" {
			return nil, fmt.Errorf("prompts: %s: no language code", name)
		}
		var missing []string
		for _, id := range All() {
			if strings.TrimSpace(l.Prompts[id]) == "" {
				missing = append(missing, string(id))
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("prompts: %s: missing %s", name, strings.Join(missing, ", "))
		}
		c.langs[l.Code] = &l
	}
	if _, ok := c.langs[fallback]; !ok {
		return nil, fmt.Errorf("prompts: fallback language %q not in catalogue", fallback)
	}
	return c, nil
}

// Languages lists the language codes, sorted.
func (c *Catalogue) Languages() []string {
	out := make([]string, 0, len(c.langs))
	for code := range c.langs {
		out = append(out, code)
	}
	sort.Strings(out)
	return out
}

// Has reports whether the catalogue has the language.
func (c *Catalogue) Has(lang string) bool { _, ok := c.langs[lang]; return ok }

// Lookup returns the language, or the fallback language.
func (c *Catalogue) Lookup(lang string) *Language {
	if l, ok := c.langs[lang]; ok {
		return l
	}
	return c.langs[c.fallback]
}

// Text returns prompt id in lang with its placeholders filled from vars
// (pairs of name, value). Unknown placeholders are left as they are, so a
// missing value is audible in tests rather than silently dropped.
func (c *Catalogue) Text(lang string, id ID, vars ...string) string {
	t := c.Lookup(lang).Prompts[id]
	if len(vars) < 2 || !strings.Contains(t, "{") {
		return t
	}
	pairs := make([]string, 0, len(vars))
	for i := 0; i+1 < len(vars); i += 2 {
		pairs = append(pairs, "{"+vars[i]+"}", vars[i+1])
	}
	return strings.NewReplacer(pairs...).Replace(t)
}
