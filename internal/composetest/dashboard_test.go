package composetest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/ivr-gateway/ivr/internal/redistest"
	"github.com/ivr-gateway/ivr/internal/replay"
	"github.com/ivr-gateway/ivr/internal/testlog"
)

// dashboardPath is the Grafana dashboard the observability profile
// provisions (TestObservabilityProfile checks that it does).
var dashboardPath = filepath.Join(root, "deploy", "grafana", "dashboards", dashboardFile)

// The parts of a Grafana dashboard these tests read.
type (
	grafanaDashboard struct {
		UID           string         `json:"uid"`
		Title         string         `json:"title"`
		SchemaVersion int            `json:"schemaVersion"`
		Panels        []grafanaPanel `json:"panels"`
		Templating    struct {
			List []grafanaVar `json:"list"`
		} `json:"templating"`
	}
	grafanaPanel struct {
		ID         int                      `json:"id"`
		Type       string                   `json:"type"`
		Title      string                   `json:"title"`
		Datasource *grafanaDS               `json:"datasource"`
		GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
		Targets    []struct {
			RefID        string     `json:"refId"`
			Expr         string     `json:"expr"`
			LegendFormat string     `json:"legendFormat"`
			Datasource   *grafanaDS `json:"datasource"`
		} `json:"targets"`
		Panels []grafanaPanel `json:"panels"` // a collapsed row's
	}
	grafanaDS struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	}
	grafanaVar struct {
		Name       string          `json:"name"`
		Type       string          `json:"type"`
		Query      json.RawMessage `json:"query"` // a string, or {"query": "..."}
		Definition string          `json:"definition"`
		Datasource *grafanaDS      `json:"datasource"`
	}
)

func loadDashboard(tb testing.TB) (grafanaDashboard, []byte) {
	tb.Helper()
	b, err := os.ReadFile(dashboardPath)
	if err != nil {
		tb.Fatal(err)
	}
	var d grafanaDashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		tb.Fatalf("%s: %v", dashboardPath, err)
	}
	return d, b
}

// allPanels flattens rows: a collapsed row holds its panels inside it.
func (d grafanaDashboard) allPanels() []grafanaPanel {
	var out []grafanaPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// promQuery is one PromQL expression of the dashboard and where it is.
type promQuery struct{ where, expr string }

func (d grafanaDashboard) queries(tb testing.TB) []promQuery {
	tb.Helper()
	var out []promQuery
	for _, p := range d.allPanels() {
		for _, t := range p.Targets {
			out = append(out, promQuery{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, t.RefID), t.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct {
				Query string `json:"query"`
			}
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				tb.Errorf("variable %s: query is neither a string nor {\"query\": ...}", v.Name)
			}
			q = obj.Query
		}
		out = append(out, promQuery{"variable " + v.Name, q})
	}
	return out
}

// prometheusSeries are the series Prometheus itself adds to every target it
// scrapes; the dashboard may use them although the gateway does not export
// them.
var prometheusSeries = map[string]map[string]bool{"up": {}}

// Labels Prometheus attaches to every scraped series.
var targetLabels = []string{"job", "instance"}

// checkDashboard returns what in d does not match what the gateway exports:
// metric names it does not export, and label names none of an expression's
// metrics carries (a typo there silently sums everything into one line).
func checkDashboard(tb testing.TB, d grafanaDashboard, exported map[string]map[string]bool) []string {
	tb.Helper()
	var problems []string
	for _, q := range d.queries(tb) {
		refs, err := promReferences(q.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", q.where, err))
			continue
		}
		if len(refs.metrics) == 0 {
			problems = append(problems, fmt.Sprintf("%s: %q selects no metric", q.where, q.expr))
		}
		labels := map[string]bool{}
		for _, l := range targetLabels {
			labels[l] = true
		}
		for _, m := range refs.metrics {
			ls, ok := exported[m]
			if !ok {
				ls, ok = prometheusSeries[m]
			}
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: metric %s is not exported by the gateway", q.where, m))
				continue
			}
			maps.Copy(labels, ls)
		}
		for _, l := range refs.labels {
			if !labels[l] {
				problems = append(problems, fmt.Sprintf("%s: label %s is on none of %q", q.where, l, refs.metrics))
			}
		}
	}
	return problems
}

// dashboardCovers are the gateway's metrics the dashboard must show
// (issue 13 §4 and the operations view of issue 10).
var dashboardCovers = []string{
	"ivr_calls_total", "ivr_verifications_total", "ivr_verification_duration_seconds_bucket",
	"ivr_step_duration_seconds_bucket", "ivr_as_request_duration_seconds_bucket",
	"ivr_signature_failures_total", "ivr_redis_errors_total", "ivr_webhooks_total",
	"ivr_streams_active", "ivr_streams_refused_total",
	"ivr_agent_longpolls_waiting", "ivr_agent_longpolls_refused_total", "ivr_agent_token_releases_total",
}

// Label names that would carry personal data or unbounded identifiers;
// the gateway has none, and a dashboard must not ask for them.
var personalLabels = regexp.MustCompile(`(?i)^(call_?sid|callsid|from|to|caller|phone|number|name|given_name|family_name|dob|birthdate|ssn.*|otp|token|access_token|auth_session)$`)

// TestDashboardIsGrafana: the file is a dashboard Grafana provisions as is
// (schema version, unique panel ids, a Prometheus data source and queries on
// every panel, panels inside the 24-column grid and not overlapping), and it
// holds no personal data and asks for no personal label.
func TestDashboardIsGrafana(t *testing.T) {
	d, raw := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: both are needed to provision it", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d: want 36 or later (Grafana 9+ panels and data source references)", d.SchemaVersion)
	}
	dsVars := map[string]bool{}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			var q string
			json.Unmarshal(v.Query, &q)
			if q != "prometheus" {
				t.Errorf("variable %s: data source type %q, want prometheus", v.Name, q)
			}
			dsVars["${"+v.Name+"}"] = true
			dsVars["$"+v.Name] = true
		}
	}
	validDS := func(ds *grafanaDS) bool {
		return ds != nil && ds.Type == "prometheus" && (dsVars[ds.UID] || ds.UID == "prometheus")
	}
	ids := map[int]bool{}
	type rect struct {
		id         int
		x, y, w, h int
	}
	var placed []rect
	panels := d.allPanels()
	if len(panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	for _, p := range panels {
		if p.ID <= 0 || ids[p.ID] {
			t.Errorf("panel %q: id %d is not a unique positive number", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" {
			t.Errorf("panel %d has no title", p.ID)
		}
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %d %q: gridPos %+v is outside the 24-column grid", p.ID, p.Title, g)
		}
		for _, o := range placed {
			if g.X < o.x+o.w && o.x < g.X+g.W && g.Y < o.y+o.h && o.y < g.Y+g.H {
				t.Errorf("panel %d %q overlaps panel %d", p.ID, p.Title, o.id)
			}
		}
		placed = append(placed, rect{p.ID, g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			if len(p.Targets) != 0 {
				t.Errorf("row %d %q has queries", p.ID, p.Title)
			}
			continue
		}
		if !slices.Contains([]string{"timeseries", "stat", "gauge", "bargauge", "table", "heatmap"}, p.Type) {
			t.Errorf("panel %d %q: type %q", p.ID, p.Title, p.Type)
		}
		if !validDS(p.Datasource) {
			t.Errorf("panel %d %q: data source %+v is not the dashboard's Prometheus", p.ID, p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %d %q has no query", p.ID, p.Title)
		}
		refIDs := map[string]bool{}
		for _, q := range p.Targets {
			if q.RefID == "" || refIDs[q.RefID] {
				t.Errorf("panel %d %q: refId %q is not unique", p.ID, p.Title, q.RefID)
			}
			refIDs[q.RefID] = true
			if strings.TrimSpace(q.Expr) == "" {
				t.Errorf("panel %d %q target %s: no expression", p.ID, p.Title, q.RefID)
			}
			if q.Datasource != nil && !validDS(q.Datasource) {
				t.Errorf("panel %d %q target %s: data source %+v", p.ID, p.Title, q.RefID, q.Datasource)
			}
			for _, m := range regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`).FindAllStringSubmatch(q.LegendFormat, -1) {
				if personalLabels.MatchString(m[1]) {
					t.Errorf("panel %d %q: legend shows label %s", p.ID, p.Title, m[1])
				}
			}
		}
	}

	var used []string
	for _, q := range d.queries(t) {
		refs, err := promReferences(q.expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		used = append(used, refs.metrics...)
		for _, l := range refs.labels {
			if personalLabels.MatchString(l) {
				t.Errorf("%s: label %s would be personal data; the gateway's labels are bounded enums", q.where, l)
			}
		}
	}
	for _, m := range dashboardCovers {
		if !slices.Contains(used, m) {
			t.Errorf("the dashboard shows nothing of %s", m)
		}
	}

	// No identity of the test patients, no phone number, no call SID.
	text := string(raw)
	for _, p := range replay.Patients {
		for _, s := range []string{p.Given, p.Family, p.Birthdate, strings.ReplaceAll(p.Birthdate, "-", "")} {
			if strings.Contains(text, s) {
				t.Errorf("the dashboard contains %q, personal data of a test patient", s)
			}
		}
	}
	for _, re := range []*regexp.Regexp{regexp.MustCompile(`\+?\b1?[0-9]{10,15}\b`), regexp.MustCompile(`\bCA[0-9a-f]{32}\b`)} {
		if m := re.FindString(text); m != "" {
			t.Errorf("the dashboard contains %q (a phone number or call SID?)", m)
		}
	}
}

// TestDashboardMetricsExported starts the gateway in process as `ivr
// serve` builds it (the Go and process collectors included), with an AS
// double and a real Redis, once per transport: a verified call through the
// gather and relay instances (the agent fetching each token), a Media
// Streams session the stream instance must refuse, so the labelled series
// exist. Then every metric and label name the dashboard's queries use must
// be in what /metrics exports. The scrapes and the logs must hold none of
// the calls' personal data.
func TestDashboardMetricsExported(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	logs := &testlog.Buffer{}
	f := newFleet(t, rdb, prefix, logs)
	gather := f.start(t, "gather")
	// The WebSocket transports' series appear on instances that run them.
	stream := f.start(t, "stream")
	relay := f.start(t, "relay")

	sid, token := verifiedCall(t, gather.url)
	relaySid, relayToken := verifiedCall(t, relay.url)
	if code := unboundStream(t, stream.url); code != websocket.ClosePolicyViolation {
		t.Errorf("a stream not bound to its call closed with %d, want 1008", code)
	}

	exported := map[string]map[string]bool{}
	secrets := []string{sid, relaySid, token, relayToken, testCaller, strings.TrimPrefix(testCaller, "+")}
	for _, p := range replay.Patients[:1] {
		secrets = append(secrets, p.Given, p.Family, p.Birthdate, strings.ReplaceAll(p.Birthdate, "-", ""))
	}
	for _, in := range []*instance{gather, stream, relay} {
		names, raw := metricNames(t, in.url)
		for n, ls := range names {
			if exported[n] == nil {
				exported[n] = map[string]bool{}
			}
			maps.Copy(exported[n], ls)
		}
		for _, s := range secrets {
			if strings.Contains(raw, s) {
				t.Errorf("/metrics contains %q, personal data or a call identifier", s)
			}
		}
		for _, line := range strings.Split(raw, "\n") {
			if i := strings.IndexByte(line, '{'); i >= 0 && !strings.HasPrefix(line, "#") {
				for _, kv := range splitLabels(line[i+1 : strings.LastIndexByte(line, '}')]) {
					if kv[1] == replay.Patients[0].SSN4 {
						t.Errorf("/metrics: label %s=%q is the caller's SSN-4", kv[0], kv[1])
					}
				}
			}
		}
	}
	// The call reached the metrics: without it the names would be there
	// (registered) but the labelled series would not.
	for _, m := range []string{"ivr_calls_total", "ivr_verifications_total", "ivr_verification_duration_seconds_bucket",
		"ivr_as_request_duration_seconds_bucket", "ivr_streams_refused_total", "ivr_streams_total",
		"ivr_relay_sessions_total", "process_cpu_seconds_total"} {
		if exported[m] == nil {
			t.Errorf("after a verified call, /metrics has no %s", m)
		}
	}

	d, _ := loadDashboard(t)
	for _, p := range checkDashboard(t, d, exported) {
		t.Error(p)
	}

	// The check itself catches a misspelt metric and a misspelt label.
	var bad grafanaDashboard
	if err := json.Unmarshal([]byte(`{"panels": [{"id": 1, "title": "typo", "targets": [{"refId": "A",
		"expr": "sum by (outcomes) (rate(ivr_calls_totl[5m])) + sum by (route) (ivr_calls_total)"}]}]}`), &bad); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(checkDashboard(t, bad, exported), "\n")
	for _, want := range []string{"metric ivr_calls_totl is not exported", "label outcomes", "label route"} {
		if !strings.Contains(got, want) {
			t.Errorf("checkDashboard on a typo: want %q, got\n%s", want, got)
		}
	}

	logged := logs.String()
	for _, s := range secrets[2:] { // call SIDs are logged by design
		if strings.Contains(logged, s) {
			t.Errorf("the gateway logged %q", s)
		}
	}
}
