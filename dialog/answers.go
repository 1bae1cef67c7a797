package dialog

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ivr-gateway/ivr/kba"
)

// Answers is what the caller has told us so far, and the authorization
// server's auth_session for this call. It is personal data: it prints as
// "[redacted]" in logs and fmt verbs, and is only ever stored sealed.
type Answers struct {
	Name        kba.Name
	DOB         kba.Date
	SSN4        string
	OTP         string
	AuthSession string
}

// IsZero reports whether nothing has been collected.
func (a Answers) IsZero() bool { return a == Answers{} }

// String redacts.
func (a Answers) String() string { return "[redacted]" }

// GoString redacts, so %#v does not print the fields either.
func (a Answers) GoString() string { return "[redacted]" }

// Format redacts for every fmt verb.
func (a Answers) Format(f fmt.State, _ rune) { fmt.Fprint(f, "[redacted]") }

// LogValue redacts.
func (a Answers) LogValue() slog.Value { return slog.StringValue("[redacted]") }

type wireAnswers struct {
	Given   string `json:"g,omitempty"`
	Family  string `json:"f,omitempty"`
	DOB     string `json:"d,omitempty"`
	SSN4    string `json:"s,omitempty"`
	OTP     string `json:"o,omitempty"`
	Session string `json:"a,omitempty"`
}

// MarshalBinary encodes the answers for sealing; a zero Answers encodes to nil
// so the store deletes the field.
func (a Answers) MarshalBinary() ([]byte, error) {
	if a.IsZero() {
		return nil, nil
	}
	w := wireAnswers{Given: a.Name.Given, Family: a.Name.Family, SSN4: a.SSN4, OTP: a.OTP, Session: a.AuthSession}
	if !a.DOB.IsZero() {
		w.DOB = a.DOB.ISO()
	}
	return json.Marshal(w)
}

// UnmarshalBinary decodes what MarshalBinary wrote. Errors never include the data.
// On error the receiver is left zero, never half filled.
func (a *Answers) UnmarshalBinary(b []byte) error {
	*a = Answers{}
	if len(b) == 0 {
		return nil
	}
	var w wireAnswers
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("dialog: answers: malformed (%d bytes)", len(b))
	}
	out := Answers{Name: kba.Name{Given: w.Given, Family: w.Family}, SSN4: w.SSN4, OTP: w.OTP, AuthSession: w.Session}
	if w.DOB != "" {
		d, err := kba.ParseISODate(w.DOB)
		if err != nil {
			return fmt.Errorf("dialog: answers: malformed date of birth")
		}
		out.DOB = d
	}
	*a = out
	return nil
}
