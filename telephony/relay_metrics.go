package telephony

import "github.com/prometheus/client_golang/prometheus"

// relayMetrics count what the ConversationRelay sessions did. The live
// sessions and those refused (the per-instance cap, shutdown, a bad
// binding, a second session for a call) are counted with the Media
// Streams ones, ivr_streams_active and ivr_streams_refused_total: both
// are this instance's WebSocket sessions, under one cap.
type relayMetrics struct {
	ended    *prometheus.CounterVec
	messages *prometheus.CounterVec
	sent     *prometheus.CounterVec
	errors   *prometheus.CounterVec
	inputs   *prometheus.CounterVec
}

func newRelayMetrics(reg prometheus.Registerer) *relayMetrics {
	m := &relayMetrics{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_relay_sessions_total",
			Help: "ConversationRelay sessions ended, by outcome (verified, failed, hold, handback, error, shutdown, closed_by_twilio, lost, unbound, duplicate, no_setup, upgrade_failed).",
		}, []string{"outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_relay_messages_total", Help: "ConversationRelay messages received, by type.",
		}, []string{"type"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_relay_sent_total", Help: "ConversationRelay messages sent, by type.",
		}, []string{"type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_relay_errors_total",
			Help: "ConversationRelay messages refused, by kind (malformed, unknown_type, binary, before_setup, duplicate_setup, bad_dtmf, twilio_error).",
		}, []string{"kind"}),
		inputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_relay_inputs_total",
			Help: "Caller input in relay sessions, by kind (speech, key, none, speech_ignored, key_ignored, dropped).",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.ended, m.messages, m.sent, m.errors, m.inputs)
	}
	return m
}
