package telephony

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus collectors. Labels are bounded sets
// (routes, outcomes, reasons); never a call SID or a phone number.
type Metrics struct {
	webhooks          *prometheus.CounterVec
	stepSeconds       *prometheus.HistogramVec
	calls             *prometheus.CounterVec
	verifications     *prometheus.CounterVec
	verifySeconds     *prometheus.HistogramVec
	signatureFailures prometheus.Counter
	redisErrors       prometheus.Counter
	stream            *streamMetrics // Media Streams (stream.go)
	relay             *relayMetrics  // ConversationRelay (relay.go)
}

// NewMetrics creates the collectors and registers them with reg (nil: not
// registered, for tests that do not look).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_webhooks_total", Help: "Twilio webhooks answered, by route and outcome.",
		}, []string{"route", "outcome"}),
		stepSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ivr_step_duration_seconds", Help: "Time to answer one webhook, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_calls_total", Help: "Calls by outcome (verified, failed_<reason>, ended).",
		}, []string{"outcome"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_verifications_total", Help: "Verification attempts at the authorization server, by outcome.",
		}, []string{"outcome"}),
		verifySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ivr_verification_duration_seconds", Help: "Challenge plus token exchange, by outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"outcome"}),
		signatureFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ivr_signature_failures_total", Help: "Requests refused for a missing or wrong X-Twilio-Signature.",
		}),
		redisErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ivr_redis_errors_total", Help: "Redis operations that failed (not compare-and-set conflicts).",
		}),
	}
	m.stream = newStreamMetrics(reg)
	m.relay = newRelayMetrics(reg)
	if reg != nil {
		reg.MustRegister(m.webhooks, m.stepSeconds, m.calls, m.verifications, m.verifySeconds, m.signatureFailures, m.redisErrors)
	}
	return m
}

// CallOutcome counts a call that reached an outcome (callflow.Observer).
func (m *Metrics) CallOutcome(outcome string) { m.calls.WithLabelValues(outcome).Inc() }

// Verification counts one verification attempt and its duration
// (callflow.Observer). A verification that never reached the AS (the
// caller limit) has no duration.
func (m *Metrics) Verification(outcome string, took time.Duration) {
	m.verifications.WithLabelValues(outcome).Inc()
	if took > 0 {
		m.verifySeconds.WithLabelValues(outcome).Observe(took.Seconds())
	}
}

// StoreError counts a failed store operation (callflow.Observer).
func (m *Metrics) StoreError() { m.redisErrors.Inc() }
