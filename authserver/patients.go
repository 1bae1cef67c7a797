package authserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"
)

// Patient is one entry of the patient file (docs/as-profile.md). Its fields are
// personal data: String and LogValue print only the ID.
type Patient struct {
	ID          string `json:"id"`
	GivenName   string `json:"given_name"`
	FamilyName  string `json:"family_name"`
	Birthdate   string `json:"birthdate"` // YYYY-MM-DD
	SSNLast4    string `json:"ssn_last4"`
	Phone       string `json:"phone"` // E.164
	OTPRequired bool   `json:"otp_required,omitempty"`
}

// String prints the patient without personal data.
func (p Patient) String() string { return "Patient(" + p.ID + ")" }

// GoString keeps %#v from printing personal data.
func (p Patient) GoString() string { return p.String() }

// LogValue logs the patient ID only.
func (p Patient) LogValue() slog.Value { return slog.GroupValue(slog.String("id", p.ID)) }

// ErrInvalidPatients reports a malformed patient file; the message names the
// entry and field, never the value.
var ErrInvalidPatients = errors.New("authserver: invalid patient file")

var (
	e164Re   = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	digits4  = regexp.MustCompile(`^[0-9]{4}$`)
	maxNames = 100 // bytes, for a name as loaded or claimed
)

// LoadPatients reads a patient file: a JSON array of Patient objects. It
// checks every entry (id unique and non-empty, names with letters,
// birthdate YYYY-MM-DD, ssn_last4 four digits, phone E.164). Unknown members
// are ignored so operators may keep notes in the file.
func LoadPatients(r io.Reader) ([]Patient, error) {
	data, err := io.ReadAll(io.LimitReader(r, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("authserver: read patients: %w", err)
	}
	var ps []Patient
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&ps); err != nil {
		// json errors quote offsets and types, not values, except for
		// syntax errors on literals: keep only the kind.
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%w: JSON syntax error at offset %d", ErrInvalidPatients, se.Offset)
		}
		return nil, fmt.Errorf("%w: not a JSON array of patient objects", ErrInvalidPatients)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the array", ErrInvalidPatients)
	}
	seen := make(map[string]bool, len(ps))
	for i, p := range ps {
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %s", ErrInvalidPatients, i, err)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("%w: entry %d: duplicate id", ErrInvalidPatients, i)
		}
		seen[p.ID] = true
	}
	return ps, nil
}

func (p Patient) validate() error {
	switch {
	case strings.TrimSpace(p.ID) == "" || len(p.ID) > 200:
		return errors.New("id missing or too long")
	case len(nameTokens(p.GivenName)) == 0 || len(p.GivenName) > maxNames:
		return errors.New("given_name missing, without letters or too long")
	case len(nameTokens(p.FamilyName)) == 0 || len(p.FamilyName) > maxNames:
		return errors.New("family_name missing, without letters or too long")
	case !validDate(p.Birthdate):
		return errors.New("birthdate is not YYYY-MM-DD")
	case !digits4.MatchString(p.SSNLast4):
		return errors.New("ssn_last4 is not four digits")
	case !e164Re.MatchString(p.Phone):
		return errors.New("phone is not E.164")
	}
	return nil
}

func validDate(s string) bool {
	if len(s) != 10 {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// secret is personal or secret data; it never prints its value.
type secret string

func (secret) String() string                 { return "[redacted]" }
func (secret) GoString() string               { return "[redacted]" }
func (secret) LogValue() slog.Value           { return slog.StringValue("[redacted]") }
func (s secret) reveal() string               { return string(s) }
func (s secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// record is a patient as the server keeps it: DOB and SSN-4 only as keyed
// hashes; names in normalised form, since fuzzy matching needs the letters.
type record struct {
	id          string
	given       []nameKey
	family      []nameKey
	dobMAC      []byte
	ssnMAC      []byte
	phone       secret
	otpRequired bool
}

// Domain-separation labels for the keyed hashes.
const (
	macDOB      = "dob"
	macSSN      = "ssn4"
	macIdentity = "identity"
	macSession  = "auth_session"
	macCode     = "code"
	macOTP      = "otp"
)

// mac is HMAC-SHA256(key, label || 0 || parts joined by 0).
func mac(key []byte, label string, parts ...string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return h.Sum(nil)
}

func newRecord(p Patient, key []byte) record {
	return record{
		id:          p.ID,
		given:       newNameKeys(p.GivenName),
		family:      newNameKeys(p.FamilyName),
		dobMAC:      mac(key, macDOB, p.Birthdate),
		ssnMAC:      mac(key, macSSN, p.SSNLast4),
		phone:       secret(p.Phone),
		otpRequired: p.OTPRequired,
	}
}
