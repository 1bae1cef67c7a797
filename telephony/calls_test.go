package telephony_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/testlog"
	"github.com/ivr-gateway/ivr/telephony"
)

// update is the package's one -update flag (export_test.go).
var update = telephony.Update

const (
	publicURL = "https://ivr.example.test"
	authToken = "fixture-auth-token-0123456789abcdef"
)

// scenarios are the calls recorded as fixtures. Each becomes
// testdata/calls/<name>.jsonl; the test replays the file, so a fixture that
// no longer matches the gateway's behaviour fails until it is re-recorded
// with -update and the diff reviewed.
var scenarios = []replay.Scenario{
	{
		Name: "happy_path", Description: "Maria verifies by keypad; the call is handed off; hang-up revokes the token",
		Steps: []replay.Step{
			{Kind: "silence", Note: "language menu: no choice means English"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.91},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234", Note: "verified: handed off"},
			{Kind: "hangup", Value: "completed", Note: "status callback: token revoked, agent API 404"},
		},
		AfterHangup: true,
	},
	{
		Name: "otp_step_up", Description: "John's record needs a one-time code; he keys it in",
		Env: replay.Env{FixedOTP: true},
		Steps: []replay.Step{
			{Kind: "press", Value: "1", Note: "English"},
			{Kind: "say", Value: "my name is John Smith", Confidence: 0.88},
			{Kind: "say", Value: "July fourth nineteen seventy five", Confidence: 0.9},
			{Kind: "say", Value: "five six seven eight", Confidence: 0.9},
			{Kind: "press", Value: "246810", Note: "the code texted to the phone on file"},
		},
	},
	{
		Name: "mismatch_then_success", Description: "a wrong SSN-4, then the right answers",
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "9999", Note: "does not match: start again"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234"},
		},
	},
	{
		Name: "three_mismatches_fallback", Description: "three wrong tries: transferred to staff",
		Env: replay.Env{Fallback: true},
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1111"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "2222"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "3333", Note: "third mismatch: transfer"},
		},
	},
	{
		Name: "no_input_twice", Description: "silence at the name question twice: goodbye",
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "silence", Note: "re-prompt"},
			{Kind: "silence", Note: "second miss: failure path"},
		},
	},
	{
		Name: "as_500", Description: "the AS answers 500: apology and transfer, never an application error",
		Env: replay.Env{AS: "500", Fallback: true},
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234"},
		},
	},
	{
		Name: "as_slow", Description: "the AS takes longer than the webhook may wait: hold, poll, verified",
		Env: replay.Env{AS: "slow"},
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234", Note: "on hold, then the poll finds the result"},
		},
	},
	{
		Name: "redis_down", Description: "Redis unreachable: every webhook still answers TwiML with an apology",
		Env:   replay.Env{Redis: "down", Fallback: true},
		Steps: []replay.Step{},
	},
	{
		Name: "bad_signatures", Description: "forged and unsigned requests get 403 and change nothing",
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "forged", Value: "Maria Garcia", Note: "wrong signature: 403"},
			{Kind: "unsigned", Value: "Maria Garcia", Note: "no signature: 403"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93, Note: "the same question is still open"},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234"},
		},
	},
	{
		Name: "repeated_webhook", Description: "Twilio sends a <Gather> action twice: the dialog advances once",
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "repeat", Note: "the same request again: same answer, no second step"},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234"},
		},
	},
	{
		Name: "spanish_call", Description: "José chooses Spanish and answers in Spanish",
		Steps: []replay.Step{
			{Kind: "press", Value: "2", Note: "español"},
			{Kind: "say", Value: "me llamo José Hernández", Confidence: 0.9},
			{Kind: "say", Value: "quince de marzo de mil novecientos noventa", Confidence: 0.9},
			{Kind: "say", Value: "cuatro tres dos uno", Confidence: 0.9},
		},
	},
	{
		Name: "confirm_date", Description: "a spoken date that could be read two ways is read back and confirmed",
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.93},
			{Kind: "say", Value: "one five eighty", Confidence: 0.8, Note: "read back for confirmation"},
			{Kind: "press", Value: "1", Note: "that is right"},
			{Kind: "press", Value: "1234"},
		},
	},
	{
		Name: "spell_name", Description: "a name heard with low confidence is confirmed by spelling",
		Steps: []replay.Step{
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia", Confidence: 0.2, Note: "low confidence: spell it"},
			{Kind: "say", Value: "G A R C I A", Confidence: 0.7},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234"},
		},
	},
}

// socketScenarios are the same calls through the WebSocket transports:
// the base scenario's steps, with IVR_TRANSPORT set. Scenarios that only
// make sense with <Gather> (a forged <Gather> action, a repeated webhook,
// a spelled name, which needs a recogniser confidence ConversationRelay
// does not send) are left out.
var socketScenarios = []struct {
	transport string
	base      []string
}{
	{"relay", []string{"happy_path", "otp_step_up", "three_mismatches_fallback", "no_input_twice", "as_slow", "redis_down", "spanish_call", "confirm_date"}},
	{"stream", []string{"happy_path", "mismatch_then_success", "as_slow"}},
}

// relayScenarios exist only on ConversationRelay: every answer spoken,
// messages the gateway cannot use, and sessions opened by an attacker.
var relayScenarios = []replay.Scenario{
	{
		Name: "relay_speech", Description: "Maria answers every question by voice, language choice included",
		Env: replay.Env{Transport: "relay"},
		Steps: []replay.Step{
			{Kind: "say", Value: "English", Note: "language by voice"},
			{Kind: "say", Value: "my name is Maria Garcia"},
			{Kind: "say", Value: "January fifth nineteen eighty"},
			{Kind: "say", Value: "one two three four", Note: "verified: the session ends, relay-done hands off"},
			{Kind: "hangup", Value: "completed"},
		},
		AfterHangup: true,
	},
	{
		Name: "relay_malformed", Description: "messages the gateway cannot use are counted and dropped; the call goes on",
		Env: replay.Env{Transport: "relay"},
		Steps: []replay.Step{
			{Kind: "raw", Value: `{"type":"prompt","voicePrompt":`, Note: "truncated JSON"},
			{Kind: "raw", Value: `{"type":"transcription","text":"hello"}`, Note: "unknown type"},
			{Kind: "raw", Value: `{"type":"dtmf","digit":"12"}`, Note: "not one key"},
			{Kind: "raw", Value: `{"type":"setup","callSid":"CA00000000000000000000000000000000"}`, Note: "a second setup"},
			{Kind: "raw", Value: `{"type":"interrupt","utteranceUntilInterrupt":"For English","durationUntilInterruptMs":"460"}`, Note: "an interrupt, duration as a string"},
			{Kind: "raw", Value: `{"type":"info","name":"roundTripDelayMs","value":148}`},
			{Kind: "silence"},
			{Kind: "say", Value: "Maria Garcia"},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234"},
		},
	},
	{
		// A second session with the call's own binding while the first is
		// live (one session per call) needs two sessions at once, which a
		// fixture replays one after the other: relay_test.go has it.
		Name: "relay_attacks", Description: "a second session without a signature, or with a forged setup, is refused and changes nothing",
		Env: replay.Env{Transport: "relay"},
		Steps: []replay.Step{
			{Kind: "unsigned_upgrade", Note: "no X-Twilio-Signature: 403"},
			{Kind: "forged_setup", Value: "call_sid", Note: "another call's SID: close 1008"},
			{Kind: "forged_setup", Value: "caller", Note: "a changed caller reference: close 1008"},
			{Kind: "forged_setup", Value: "no_bind", Note: "no binding: close 1008"},
			{Kind: "silence", Note: "the real session goes on"},
			{Kind: "say", Value: "Maria Garcia"},
			{Kind: "press", Value: "01051980"},
			{Kind: "press", Value: "1234"},
		},
	},
}

// allScenarios is every recorded call: the <Gather> ones, the same through
// the WebSocket transports, and the relay-only ones. New scenarios go at
// the end, so the others keep their call SIDs.
func allScenarios() []replay.Scenario {
	all := append([]replay.Scenario(nil), scenarios...)
	for _, st := range socketScenarios {
		for _, name := range st.base {
			for _, sc := range scenarios {
				if sc.Name == name {
					sc.Name = st.transport + "_" + sc.Name
					sc.Env.Transport = st.transport
					all = append(all, sc)
				}
			}
		}
	}
	return append(all, relayScenarios...)
}

func fixturePath(name string) string { return filepath.Join("testdata", "calls", name+".jsonl") }

func harness(t *testing.T, env replay.Env, logs *testlog.Buffer) *replay.Harness {
	t.Helper()
	rdb, prefix := redistest.Client(t)
	h, err := replay.Start(context.Background(), replay.HarnessConfig{
		PublicURL: publicURL, AuthToken: authToken, Env: env, Redis: rdb, Prefix: prefix,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: testlog.NoTime})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// callSid gives each scenario a fixed SID, so fixtures are stable.
func callSid(i int) string { return fmt.Sprintf("CA%032x", 0xca11000+i) }

func TestCallFixtures(t *testing.T) {
	for i, sc := range allScenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			logs := &testlog.Buffer{}
			if *update {
				h := harness(t, sc.Env, logs)
				fx, err := replay.Record(context.Background(), sc, h, callSid(i))
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				if err := fx.Write(&b); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(fixturePath(sc.Name), b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fx, err := replay.Load(fixturePath(sc.Name))
			if err != nil {
				t.Fatal(err)
			}
			h := harness(t, fx.Header.Env, logs)
			mm, err := replay.Run(context.Background(), fx, replay.Target{
				BaseURL: h.URL, PublicURL: publicURL, AuthToken: authToken,
				AgentKey: replay.AgentKey, Harness: h,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range mm {
				t.Error(m)
			}
			assertNoPersonalData(t, logs.String())
		})
	}
}

// TestCallFixturesOnCluster replays the recorded calls against a gateway
// on the Redis Cluster (REDIS_CLUSTER_URL, which scripts/test starts): the
// same requests, the same answers, whatever the Redis mode. Fixtures whose
// environment is a dead Redis, and the Media Streams ones (their prompts
// play in real time; the transport's Redis use is the engine's, covered by
// the others), are left to TestCallFixtures.
func TestCallFixturesOnCluster(t *testing.T) {
	for _, sc := range allScenarios() {
		fx, err := replay.Load(fixturePath(sc.Name))
		if err != nil {
			t.Fatal(err)
		}
		if fx.Header.Env.Redis == "down" || fx.Header.Env.Transport == "stream" {
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			t.Parallel()
			rdb, prefix := redistest.ClusterClient(t)
			logs := &testlog.Buffer{}
			h, err := replay.Start(context.Background(), replay.HarnessConfig{
				PublicURL: publicURL, AuthToken: authToken, Env: fx.Header.Env, Redis: rdb, Prefix: prefix,
				Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{ReplaceAttr: testlog.NoTime})),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(h.Close)
			mm, err := replay.Run(context.Background(), fx, replay.Target{
				BaseURL: h.URL, PublicURL: publicURL, AuthToken: authToken, AgentKey: replay.AgentKey, Harness: h,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range mm {
				t.Error(m)
			}
			assertNoPersonalData(t, logs.String())
		})
	}
}

// assertNoPersonalData scans every log line the call produced for the test
// identities' names, dates of birth, SSN digits, OTPs and phone numbers.
func assertNoPersonalData(t *testing.T, logs string) {
	t.Helper()
	if logs == "" {
		t.Error("no log lines captured")
	}
	for _, p := range replay.Patients {
		secrets := []string{p.Given, p.Family, p.Birthdate, "ssn", p.SSN4, "01051980", "+15555550123"}
		if p.OTP != "" {
			secrets = append(secrets, p.OTP)
		}
		for _, s := range secrets {
			if s == "ssn" {
				continue
			}
			if re := regexp.MustCompile(`\b` + regexp.QuoteMeta(s) + `\b`); re.MatchString(logs) {
				t.Errorf("log output contains personal data %q: %s", s, re.FindString(logs))
				for _, line := range strings.Split(logs, "\n") {
					if re.MatchString(line) {
						t.Logf("in: %s", line)
					}
				}
			}
		}
	}
}
