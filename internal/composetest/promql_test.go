package composetest

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// promRefs is what a PromQL expression refers to: the metric names it
// selects, and the label names it matches on or groups by.
type promRefs struct {
	metrics []string
	labels  []string
}

// PromQL words that are never metric names: aggregation operators (which
// may be followed by by/without before their parenthesis), keywords, and
// literals. Functions are recognised by the "(" after them.
var (
	promAggregations = []string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile", "limitk", "limit_ratio"}
	promKeywords  = []string{"and", "or", "unless", "atan2", "bool", "offset", "inf", "nan", "start", "end"}
	promLabelList = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}
)

// promToken is one token of a PromQL expression: kind 'i' identifier, '"'
// string, 'n' number, 'v' Grafana variable, or the punctuation itself.
type promToken struct {
	kind byte
	text string
}

var (
	identRE  = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	numberRE = regexp.MustCompile(`^(0x[0-9a-fA-F]+|[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?)`)
	varRE    = regexp.MustCompile(`^\$(\{[^}]*\}|[a-zA-Z0-9_]+)`)
	// durationRE: 5m, 1h30m, 250ms (after offset, in ranges and subqueries).
	durationRE = regexp.MustCompile(`^([0-9]+(ms|[smhdwy]))+([^a-zA-Z0-9_:]|$)`)
)

func promTokens(expr string) ([]promToken, error) {
	var out []promToken
	for s := expr; s != ""; {
		switch c := s[0]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			s = s[1:]
		case c == '#': // a comment runs to the end of the line
			if i := strings.IndexByte(s, '\n'); i >= 0 {
				s = s[i:]
			} else {
				s = ""
			}
		case c == '"' || c == '\'' || c == '`':
			i := 1
			for ; i < len(s) && s[i] != c; i++ {
				if s[i] == '\\' && c != '`' {
					i++
				}
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			out = append(out, promToken{'"', s[1:i]})
			s = s[i+1:]
		case c == '$':
			m := varRE.FindString(s)
			if m == "" {
				return nil, fmt.Errorf("lone $ in %q", expr)
			}
			out = append(out, promToken{'v', m})
			s = s[len(m):]
		case durationRE.MatchString(s):
			m := durationRE.FindStringSubmatch(s)
			d := m[0][:len(m[0])-len(m[3])] // without the character after it
			out = append(out, promToken{'d', d})
			s = s[len(d):]
		case identRE.MatchString(s):
			m := identRE.FindString(s)
			out = append(out, promToken{'i', m})
			s = s[len(m):]
		case numberRE.MatchString(s):
			m := numberRE.FindString(s)
			out = append(out, promToken{'n', m})
			s = s[len(m):]
		case strings.ContainsRune("(){}[],", rune(c)):
			out = append(out, promToken{c, s[:1]})
			s = s[1:]
		case strings.ContainsRune("+-*/%^=!<>~@:", rune(c)):
			out = append(out, promToken{'o', s[:1]})
			s = s[1:]
		default:
			return nil, fmt.Errorf("unexpected %q in %q", c, expr)
		}
	}
	return out, nil
}

// promReferences extracts the metric and label names of a PromQL
// expression (or of a Grafana label_values(...) variable query). It is a
// tokenizer, not a parser: a name followed by "(" is a function, names
// inside {} are labels (or __name__), names in by/without/on/ignoring/
// group_* lists are labels, the rest are metric names.
func promReferences(expr string) (promRefs, error) {
	var r promRefs
	// Grafana's label_values(selector, label) and label_values(label).
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok && strings.HasSuffix(rest, ")") {
		rest = strings.TrimSuffix(rest, ")")
		sel, label := "", rest
		if i := strings.LastIndexByte(rest, ','); i >= 0 {
			sel, label = rest[:i], rest[i+1:]
		}
		r.labels = append(r.labels, strings.TrimSpace(label))
		if strings.TrimSpace(sel) == "" {
			return r, nil
		}
		inner, err := promReferences(sel)
		r.metrics = inner.metrics
		r.labels = append(r.labels, inner.labels...)
		return r, err
	}
	toks, err := promTokens(expr)
	if err != nil {
		return r, err
	}
	depth := map[byte]int{}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case '{', '[', '(':
			depth[t.kind]++
			continue
		case '}':
			depth['{']--
			continue
		case ']':
			depth['[']--
			continue
		case ')':
			depth['(']--
			continue
		case 'i':
		default:
			continue
		}
		next := byte(0)
		if i+1 < len(toks) {
			next = toks[i+1].kind
		}
		switch {
		case depth['['] > 0: // a range or subquery duration: 5m, 1h:30s
		case depth['{'] > 0:
			if t.text != "__name__" {
				r.labels = append(r.labels, t.text)
			}
		case (t.text == "group_left" || t.text == "group_right") && next != '(':
			// no extra labels
		case slices.Contains(promLabelList, t.text):
			if next != '(' {
				return r, fmt.Errorf("%s without a label list in %q", t.text, expr)
			}
			for i += 2; i < len(toks) && toks[i].kind != ')'; i++ {
				if toks[i].kind == 'i' {
					r.labels = append(r.labels, toks[i].text)
				}
			}
		case next == '(' || slices.Contains(promAggregations, t.text) || slices.Contains(promKeywords, strings.ToLower(t.text)):
		default:
			r.metrics = append(r.metrics, t.text)
		}
	}
	if depth['{'] != 0 || depth['['] != 0 || depth['('] != 0 {
		return r, fmt.Errorf("unbalanced brackets in %q", expr)
	}
	return r, nil
}

func TestPromReferences(t *testing.T) {
	tests := []struct {
		expr            string
		metrics, labels []string
		wantErr         bool
	}{
		{expr: `ivr_calls_total`, metrics: []string{"ivr_calls_total"}},
		{expr: `sum by (outcome) (rate(ivr_calls_total{job=~"$job",instance=~"$instance"}[$__rate_interval])) * 60`,
			metrics: []string{"ivr_calls_total"}, labels: []string{"outcome", "job", "instance"}},
		{expr: `histogram_quantile(0.95, sum by (le, route) (rate(ivr_step_duration_seconds_bucket{job=~"$job"}[5m])))`,
			metrics: []string{"ivr_step_duration_seconds_bucket"}, labels: []string{"le", "route", "job"}},
		{expr: `sum(rate(x_total[5m])) by (le) / ignoring(le) group_left sum(y)`, metrics: []string{"x_total", "y"}, labels: []string{"le", "le"}},
		{expr: `a{route="gather sum(b)"} offset 5m and on(instance) c`, metrics: []string{"a", "c"}, labels: []string{"route", "instance"}},
		{expr: `rate(a[5m:30s]) > bool 0.5e3`, metrics: []string{"a"}},
		{expr: `{__name__="ivr_x", outcome!="ok"}`, labels: []string{"outcome"}},
		{expr: `topk(3, sum without (instance) (ivr_y))`, metrics: []string{"ivr_y"}, labels: []string{"instance"}},
		{expr: `sum(up{job=~"$job"}) - count(go_goroutines)`, metrics: []string{"up", "go_goroutines"}, labels: []string{"job"}},
		{expr: `label_values(ivr_signature_failures_total{job=~"$job"}, instance)`,
			metrics: []string{"ivr_signature_failures_total"}, labels: []string{"instance", "job"}},
		{expr: `label_values(job)`, labels: []string{"job"}},
		{expr: `sum(rate(a[5m])`, wantErr: true},
		{expr: `a{b="c}`, wantErr: true},
		{expr: `sum by outcome (a)`, wantErr: true},
	}
	for _, tt := range tests {
		r, err := promReferences(tt.expr)
		if (err != nil) != tt.wantErr {
			t.Errorf("promReferences(%q) error = %v, want error %v", tt.expr, err, tt.wantErr)
			continue
		}
		if err == nil && (!slices.Equal(r.metrics, tt.metrics) || !slices.Equal(r.labels, tt.labels)) {
			t.Errorf("promReferences(%q) = metrics %q labels %q; want %q %q", tt.expr, r.metrics, r.labels, tt.metrics, tt.labels)
		}
	}
}
