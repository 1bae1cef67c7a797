// Package callflow is the call engine every transport drives: the Twilio
// webhooks, the Media Streams WebSocket and the ConversationRelay WebSocket
// all turn what the caller did into a dialog.Event and call Advance, which
// loads the call from the store, steps the dialog, saves the result with a
// compare-and-set on the call's step, runs the verification at the
// authorization server when the dialog asks for one (waiting, holding, or
// taking over an orphaned one), and counts what happened. The transport
// renders the Turn it gets back (TwiML, audio, text).
//
// Nothing here knows HTTP, WebSockets or Twilio (a dependency test keeps it
// so): the engine speaks dialog events and actions, store sessions and the
// shared vocabulary of package ivr.
package callflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ivr-gateway/ivr"
	"github.com/ivr-gateway/ivr/dialog"
	"github.com/ivr-gateway/ivr/kba"
	"github.com/ivr-gateway/ivr/store"
)

// Store is what the engine needs of the call store.
type Store interface {
	// Load returns the call's session. It returns store.ErrNotFound when
	// there is none, and the session without its answers together with an
	// error wrapping store.ErrSealBroken when the answers cannot be opened.
	Load(ctx context.Context, callSid string) (store.Session, error)
	// LoadAt is Load for a request issued for step: it may answer from
	// what this instance last saw of the call at that step, which the next
	// Save's compare-and-set checks. Same errors as Load.
	LoadAt(ctx context.Context, callSid string, step int64) (store.Session, error)
	// Save writes sess if the stored step is still prevStep. It returns
	// store.ErrConflict when another writer won, store.ErrNotFound when the
	// session has gone, and an error wrapping store.ErrEventNotAppended
	// when only the events-stream entry is missing.
	Save(ctx context.Context, sess store.Session, prevStep int64, x store.SaveExtras) error
	// RenewLease extends a verification lease its owner still holds, or
	// returns store.ErrLeaseLost.
	RenewLease(ctx context.Context, callSid, owner string, until time.Time) error
	// EndCall ends the call and returns its token for revocation; it
	// returns store.ErrAlreadyEnded for an unknown or already ended call.
	EndCall(ctx context.Context, callSid string, grace time.Duration) (*ivr.Token, error)
	// SaveCountingCaller is Save that also counts one verification attempt
	// for a caller reference, in the same round trip, and reports whether it
	// is within the hourly limit (an attempt counted by a save that lost is
	// withdrawn). Same errors as Save.
	SaveCountingCaller(ctx context.Context, sess store.Session, prevStep int64, x store.SaveExtras, callerRef string) (allowed bool, err error)
}

// Verifier is what the engine needs of the authorization server.
type Verifier interface {
	// Verify runs one verification of the answers (a challenge, and the
	// token exchange when it succeeds). The result's Outcome is
	// OutcomeUnavailable whenever the AS could not be used; tok is set only
	// for OutcomeVerified. err explains an unavailable or refused outcome
	// for the logs (never personal data).
	Verify(ctx context.Context, a dialog.Answers) (res dialog.VerifyResult, tok *ivr.Token, err error)
	// Revoke revokes an access token (RFC 7009).
	Revoke(ctx context.Context, token string) error
}

// Observer is told what the engine did, for metrics. Outcomes are bounded
// label values, never personal data or call SIDs.
type Observer interface {
	// CallOutcome: a call reached "verified", "failed_<reason>" or
	// "ended". Counted once per call, after the save that decided it won.
	CallOutcome(outcome string)
	// Verification: one verification attempt at the AS ended.
	Verification(outcome string, took time.Duration)
	// StoreError: a store operation failed (not a conflict).
	StoreError()
}

// Config is the engine's policy.
type Config struct {
	// VerifyWait is how long Advance waits for a verification before
	// answering with Hold, when the Call does not say. Default 5 s.
	VerifyWait time.Duration
	// VerifyTimeout bounds one verification (challenge + token). Default 20 s.
	VerifyTimeout time.Duration
	// LeaseTTL is how long a verification's owner is presumed alive
	// without renewing; it renews every LeaseTTL/3. Default 6 s.
	LeaseTTL time.Duration
	// TokenGrace is how long a call's token stays readable after the call
	// ends (IVR_TOKEN_GRACE).
	TokenGrace time.Duration
}

// Deps are the engine's collaborators.
type Deps struct {
	Machine  *dialog.Machine
	Store    Store
	Verifier Verifier
	Observer Observer         // nil: nothing counted
	Logger   *slog.Logger     // nil: discard
	Now      func() time.Time // nil: time.Now
	// TracerProvider makes the spans of dialog steps, verifications and
	// call ends (trace.go); nil: none, at no cost.
	TracerProvider trace.TracerProvider
}

// Engine advances calls. It is safe for concurrent use and keeps no call
// state between calls to Advance: every instance of the gateway can serve
// every call.
type Engine struct {
	cfg      Config
	machine  *dialog.Machine
	store    Store
	verifier Verifier
	obs      Observer
	log      *slog.Logger
	now      func() time.Time
	instance string       // prefix of this engine's lease owners
	tracer   trace.Tracer // nil: tracing is off

	// Verifications outlive the request that started them when the AS is
	// slow; they run under bg and are waited for on Shutdown.
	bg       context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
}

// New returns an engine.
func New(cfg Config, d Deps) (*Engine, error) {
	if d.Machine == nil || d.Store == nil || d.Verifier == nil {
		return nil, errors.New("callflow: missing dependency (machine, store or verifier)")
	}
	if cfg.VerifyWait <= 0 {
		cfg.VerifyWait = 5 * time.Second
	}
	if cfg.VerifyTimeout <= 0 {
		cfg.VerifyTimeout = 20 * time.Second
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 6 * time.Second
	}
	if d.Observer == nil {
		d.Observer = nopObserver{}
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	var id [6]byte
	rand.Read(id[:])
	e := &Engine{
		cfg: cfg, machine: d.Machine, store: d.Store, verifier: d.Verifier, obs: d.Observer,
		log: d.Logger, now: d.Now, instance: hex.EncodeToString(id[:]),
	}
	if d.TracerProvider != nil {
		e.tracer = d.TracerProvider.Tracer(tracerName)
	}
	e.bg, e.bgCancel = context.WithCancel(context.Background())
	return e, nil
}

// Machine returns the dialog the engine runs.
func (e *Engine) Machine() *dialog.Machine { return e.machine }

// Shutdown waits for the verifications still running in the background
// (their results must reach the store) until ctx ends, then stops them. A
// stopped verification stops renewing its lease, so another instance takes
// it over at the caller's next poll.
func (e *Engine) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() { e.bgWG.Wait(); close(done) }()
	select {
	case <-done:
		e.bgCancel()
		return nil
	case <-ctx.Done():
		e.bgCancel()
		<-done
		return ctx.Err()
	}
}

// Trouble is what the caller hears when the gateway itself cannot go on
// (the store is down, the state is unreadable): an apology and the failure
// path, in lang ("" = the default language).
func (e *Engine) Trouble(lang kba.Lang) Turn {
	if lang == "" {
		lang = e.machine.Config().Languages[0]
	}
	st := dialog.State{Node: dialog.NodeFailed, Reason: dialog.ReasonUnavailable, Lang: lang}
	next, actions := e.machine.Step(st, dialog.Resume{})
	return Turn{State: next, Actions: actions, Event: EventTrouble}
}

type nopObserver struct{}

func (nopObserver) CallOutcome(string)                 {}
func (nopObserver) Verification(string, time.Duration) {}
func (nopObserver) StoreError()                        {}
