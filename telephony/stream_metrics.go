package telephony

import "github.com/prometheus/client_golang/prometheus"

// streamMetrics count what the streams did. Per-frame counters are resolved
// once, so counting a frame is one atomic add.
type streamMetrics struct {
	active      prometheus.Gauge
	ended       *prometheus.CounterVec
	refused     *prometheus.CounterVec
	messages    *prometheus.CounterVec
	media       prometheus.Counter
	errors      *prometheus.CounterVec
	digits      *prometheus.CounterVec
	framesSent  prometheus.Counter
	framesLost  prometheus.Counter
	errBadJSON  prometheus.Counter
	errBadAudio prometheus.Counter
	errEarly    prometheus.Counter
}

func newStreamMetrics(reg prometheus.Registerer) *streamMetrics {
	m := &streamMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ivr_streams_active", Help: "WebSocket sessions (Media Streams, ConversationRelay) open now.",
		}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_streams_total", Help: "Media Streams connections ended, by outcome.",
		}, []string{"outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_streams_refused_total", Help: "WebSocket sessions refused, by reason (cap, shutdown, binding, duplicate).",
		}, []string{"reason"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_stream_messages_total", Help: "Media Streams messages received, by event.",
		}, []string{"event"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_stream_errors_total", Help: "Media Streams messages refused, by kind.",
		}, []string{"kind"}),
		digits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_stream_digits_total", Help: "Keys heard on streams, by source (event, inband, duplicate, dropped).",
		}, []string{"source"}),
		framesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ivr_stream_frames_sent_total", Help: "20 ms prompt frames sent to Twilio.",
		}),
		framesLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ivr_stream_frames_lost_total", Help: "Prompt frames dropped because the connection could not keep up.",
		}),
	}
	m.media = m.messages.WithLabelValues("media")
	m.errBadJSON = m.errors.WithLabelValues("malformed")
	m.errBadAudio = m.errors.WithLabelValues("bad_payload")
	m.errEarly = m.errors.WithLabelValues("media_before_start")
	if reg != nil {
		reg.MustRegister(m.active, m.ended, m.refused, m.messages, m.errors, m.digits, m.framesSent, m.framesLost)
	}
	return m
}
