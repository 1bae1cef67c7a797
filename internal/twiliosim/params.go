package twiliosim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/url"
	"strings"
)

// Caller-ID data the simulator reports. Twilio's geo lookup is often empty
// for everything but the country (sample [A]).
var geoKeys = []string{"City", "Country", "State", "Zip"}

// standardParams are the parameters of every request of the call
// (twilio-voice.md §1.2, sample [D]), without CallStatus.
func standardParams(cfg Config) url.Values {
	v := url.Values{
		"AccountSid": {cfg.AccountSid},
		"ApiVersion": {"2010-04-01"},
		"CallSid":    {cfg.CallSid},
		"Called":     {cfg.To},
		"Caller":     {cfg.From},
		"Direction":  {"inbound"},
		"From":       {cfg.From},
		"To":         {cfg.To},
	}
	for _, k := range geoKeys {
		val := ""
		if k == "Country" {
			val = "US"
		}
		for _, p := range []string{"Called", "Caller", "From", "To"} {
			v.Set(p+k, val)
		}
	}
	for k, vs := range cfg.Extra {
		v[k] = append([]string(nil), vs...)
	}
	return v
}

// params returns the standard parameters with CallStatus, plus CallToken
// and StirVerstat on the incoming-call webhook.
func (c *Call) params(status string) url.Values {
	v := make(url.Values, len(c.base)+8)
	for k, vs := range c.base {
		v[k] = vs
	}
	v.Set("CallStatus", status)
	if c.first {
		c.first = false
		v.Set("CallToken", callToken(c.cfg.CallSid))
		v.Set("StirVerstat", stirVerstat)
	}
	return v
}

// callToken is an opaque token bound to the call; Twilio's real format is
// undocumented.
func callToken(callSid string) string {
	return "CT" + strings.TrimPrefix(callSid, "CA")
}

func sid(prefix string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

// fictionalNumber is a random number from the 555-0100..0199 range reserved
// for fiction.
func fictionalNumber() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(100))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("+1555555%04d", 100+n.Int64()), nil
}
