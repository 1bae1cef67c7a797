package agentapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	refused  prometheus.Counter
	releases *prometheus.CounterVec
}

// newMetrics builds the API's metrics and registers them with reg when it
// is not nil. The agent label takes only configured names, so its
// cardinality is the number of keys; each starts at zero, so a dashboard
// shows every agent before its first token.
func newMetrics(reg prometheus.Registerer, waiting func() float64, keys []agentKey) (metrics, error) {
	m := metrics{
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ivr_agent_longpolls_refused_total",
			Help: "Agent API long-polls refused with 429 because the cap on waiting requests was reached.",
		}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ivr_agent_token_releases_total",
			Help: "Access tokens handed out by the agent API, by agent name.",
		}, []string{"agent"}),
	}
	for _, k := range keys {
		m.releases.WithLabelValues(k.name)
	}
	if reg == nil {
		return m, nil
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ivr_agent_longpolls_waiting",
		Help: "Agent API long-polls waiting for a token now.",
	}, waiting)
	for _, c := range []prometheus.Collector{gauge, m.refused, m.releases} {
		if err := reg.Register(c); err != nil {
			return metrics{}, fmt.Errorf("agentapi: register metrics: %w", err)
		}
	}
	return m, nil
}
