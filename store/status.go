package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ivr-gateway/ivr"
)

// statusFields are the fields of P call:{CallSid} that Status reads: the
// ones that are never sealed. step is read only to tell an existing call
// from a missing one (every saved session has it). The sealed answers and
// the dialog state are deliberately left out, so a status read neither
// unseals nor transfers personal data. Keep this list in step with the
// session encoding in session.go.
var statusFields = []string{fStep, fPhase, fAttempts, fVerifiedAt}

// Status returns what may be told about a call without its answers: phase,
// attempts and verification time, in one round trip (HMGET of the non-sealed
// fields). It returns an error wrapping ErrNotFound when the call has no
// session (never seen, or expired), and ErrInvalid for a malformed call SID.
// A session whose fields do not parse is an error wrapping neither.
func (s *Store) Status(ctx context.Context, callSid string) (ivr.CallStatus, error) {
	if err := checkSid(callSid); err != nil {
		return ivr.CallStatus{}, err
	}
	vals, err := s.rdb.HMGet(ctx, s.callKey(callSid), statusFields...).Result()
	if err != nil {
		return ivr.CallStatus{}, fmt.Errorf("store: status %s: %w", callSid, err)
	}
	st, err := decodeStatus(callSid, vals)
	if err != nil {
		return ivr.CallStatus{}, fmt.Errorf("store: status %s: %w", callSid, err)
	}
	return st, nil
}

// decodeStatus parses the HMGET reply for statusFields; a nil entry is a
// missing field.
func decodeStatus(callSid string, vals []any) (ivr.CallStatus, error) {
	if len(vals) != len(statusFields) {
		return ivr.CallStatus{}, fmt.Errorf("corrupt session: %d fields, want %d", len(vals), len(statusFields))
	}
	str := func(i int) (string, bool) {
		v, ok := vals[i].(string)
		return v, ok
	}
	step, ok := str(0)
	if !ok {
		return ivr.CallStatus{}, ErrNotFound
	}
	if n, err := strconv.ParseInt(step, 10, 64); err != nil || n <= 0 {
		return ivr.CallStatus{}, errors.New("corrupt session: bad step")
	}
	st := ivr.CallStatus{CallSid: callSid}
	phase, _ := str(1)
	if st.Phase = ivr.Phase(phase); !st.Phase.Valid() {
		return ivr.CallStatus{}, errors.New("corrupt session: bad phase")
	}
	if v, ok := str(2); ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return ivr.CallStatus{}, errors.New("corrupt session: bad attempts")
		}
		st.Attempts = n
	}
	if v, ok := str(3); ok && v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return ivr.CallStatus{}, errors.New("corrupt session: bad verified_at")
		}
		st.VerifiedAt = t
	}
	return st, nil
}
