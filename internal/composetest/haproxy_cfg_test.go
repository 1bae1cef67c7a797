package composetest

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// checkHAProxyConfig holds the balancer's file to what the README promises.
func checkHAProxyConfig(t *testing.T, cfg []haSection, servers []string, lb service) {
	t.Helper()
	var d, fe, be *haSection
	for i := range cfg {
		switch s := &cfg[i]; {
		case s.kind == "defaults":
			d = s
		case s.kind == "frontend" && s.name == "ivr":
			fe = s
		case s.kind == "backend" && s.name == "gateways":
			be = s
		}
	}
	if d == nil || fe == nil || be == nil {
		t.Fatalf("haproxy.cfg: want a defaults section, frontend ivr and backend gateways")
	}
	if got := d.get("mode"); got != "http" {
		t.Errorf("haproxy: mode %q; WebSocket upgrades and per-request balancing need mode http", got)
	}
	if got := d.get("timeout tunnel"); got == "" {
		t.Errorf("haproxy: no timeout tunnel: an upgraded WebSocket would be cut at the client/server timeout")
	}
	if n, err := strconv.Atoi(d.get("retries")); err != nil || n < 1 {
		t.Errorf("haproxy: retries %q, want at least 1", d.get("retries"))
	}
	if !strings.Contains(d.get("retry-on"), "conn-failure") {
		t.Errorf("haproxy: retry-on %q, want conn-failure (a refused connection tried again)", d.get("retry-on"))
	}
	if !d.has("option redispatch") {
		t.Errorf("haproxy: no option redispatch: a retry would go to the same dead instance")
	}
	if got := be.get("balance"); got != "roundrobin" {
		t.Errorf("haproxy: balance %q, want roundrobin", got)
	}
	for _, sec := range cfg {
		for _, l := range sec.lines {
			switch l[0] {
			case "cookie", "stick", "stick-table", "hash-type":
				t.Errorf("haproxy %s %s: %q pins clients to an instance; webhooks must not be sticky", sec.kind, sec.name, strings.Join(l, " "))
			}
		}
	}
	if !be.has("option httpchk") || !strings.Contains(be.get("http-check send"), "uri /readyz") || be.get("http-check expect") != "status 200" {
		t.Errorf("haproxy: health check is not GET /readyz expecting 200")
	}
	if !strings.Contains(" "+be.get("default-server")+" ", " check ") {
		t.Errorf("haproxy: default-server %q does not enable the health check", be.get("default-server"))
	}
	var got []string
	for _, l := range be.lines {
		if l[0] == "server" && len(l) >= 3 {
			got = append(got, l[2])
		}
	}
	slices.Sort(got)
	slices.Sort(servers)
	if !slices.Equal(got, servers) {
		t.Errorf("haproxy servers %q, want the gateway replicas %q", got, servers)
	}
	bind := fe.get("bind")
	var published bool
	for _, p := range lb.Ports {
		parts := strings.Split(p, ":")
		if ":"+parts[len(parts)-1] == bind {
			published = true
		}
	}
	if !published {
		t.Errorf("haproxy binds %q, which the lb service does not publish (%q)", bind, lb.Ports)
	}
	if !strings.Contains(fe.get("http-request deny"), "/metrics") {
		t.Errorf("haproxy: /metrics is not refused at the balancer")
	}
}

// haSection is one section of an HAProxy configuration file.
type haSection struct {
	kind, name string
	lines      [][]string
}

// get returns the rest of the first line starting with key (one or more
// words), or "".
func (s *haSection) get(key string) string {
	k := strings.Fields(key)
	for _, l := range s.lines {
		if len(l) >= len(k) && slices.Equal(l[:len(k)], k) {
			return strings.Join(l[len(k):], " ")
		}
	}
	return ""
}

func (s *haSection) has(key string) bool {
	k := strings.Fields(key)
	return slices.ContainsFunc(s.lines, func(l []string) bool { return len(l) >= len(k) && slices.Equal(l[:len(k)], k) })
}

// parseHAProxy reads the sections of an HAProxy file: a line starting at
// column 0 opens a section, indented lines are its keywords; # starts a
// comment (the file quotes nothing).
func parseHAProxy(tb testing.TB, file string) []haSection {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	var out []haSection
	for i, line := range strings.Split(string(b), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if line[0] != ' ' && line[0] != '\t' {
			s := haSection{kind: f[0]}
			if len(f) > 1 {
				s.name = f[1]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			tb.Fatalf("%s:%d: a keyword before any section", file, i+1)
		}
		out[len(out)-1].lines = append(out[len(out)-1].lines, f)
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no sections", file)
	}
	return out
}
