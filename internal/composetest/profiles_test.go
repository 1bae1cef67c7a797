package composetest

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ivr-gateway/ivr/internal/redisconn"
)

// The profiles and the services each adds (docker-compose.yml's header).
var profiles = map[string][]string{
	"":              {"redis", "authserver", "mcp", "gateway"},
	"observability": {"prometheus", "grafana", "jaeger"},
	"cluster": {"redis-node-1", "redis-node-2", "redis-node-3", "redis-node-4", "redis-node-5", "redis-node-6",
		"redis-cluster-init", "gateway-1", "gateway-2", "lb"},
}

// profileOf returns the one profile s belongs to ("" for the default stack).
func profileOf(tb testing.TB, name string, s service) string {
	tb.Helper()
	switch len(s.Profiles) {
	case 0:
		return ""
	case 1:
		return s.Profiles[0]
	}
	tb.Errorf("service %s is in several profiles %q: starting one alone would leave it half there", name, s.Profiles)
	return s.Profiles[0]
}

// namespaceOf returns the service whose network namespace s uses (itself
// unless network_mode is service:X).
func namespaceOf(name string, s service) string {
	if ns, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
		return ns
	}
	return name
}

// TestProfiles: every service is in the profile the header says; starting
// the default stack, or it with any one profile, finds everything each
// service depends on; a health condition names a service with a health
// check, a completion condition a one-shot; images are pinned.
func TestProfiles(t *testing.T) {
	cf := loadCompose(t)
	want := map[string]string{}
	for p, names := range profiles {
		for _, n := range names {
			want[n] = p
		}
	}
	for name, s := range cf.Services {
		p := profileOf(t, name, s)
		if w, ok := want[name]; !ok {
			t.Errorf("service %s is not in this test's list of profiles: add it", name)
		} else if p != w {
			t.Errorf("service %s is in profile %q, want %q", name, p, w)
		}
		deps := s.dependsOn(t)
		if ns := namespaceOf(name, s); ns != name {
			if _, ok := deps[ns]; !ok {
				t.Errorf("service %s uses %s's network namespace without depending on it", name, ns)
			}
		}
		for dep, cond := range deps {
			d, ok := cf.Services[dep]
			if !ok {
				continue // TestServices reports it
			}
			// A default service must not need a profile's; a profile's may
			// need the default stack or its own profile's services.
			if dp := profileOf(t, dep, d); dp != "" && dp != p {
				t.Errorf("service %s (profile %q) depends on %s (profile %q): that profile may not be running", name, p, dep, dp)
			}
			switch cond {
			case "service_started":
			case "service_healthy":
				if d.Healthcheck == nil || len(d.Healthcheck.Test) < 2 {
					t.Errorf("service %s waits for %s to be healthy, which has no health check", name, dep)
				}
			case "service_completed_successfully":
				if d.Restart != "" && d.Restart != "no" {
					t.Errorf("service %s waits for %s to complete, which restarts (%q)", name, dep, d.Restart)
				}
			default:
				t.Errorf("service %s depends on %s with condition %q", name, dep, cond)
			}
		}
		if s.Image != "" && s.Build.Kind == 0 {
			if _, tag, ok := strings.Cut(s.Image, ":"); !ok || tag == "" || tag == "latest" {
				t.Errorf("service %s: image %q is not pinned to a tag", name, s.Image)
			}
		}
	}
}

// ivrServices returns the services running `ivr serve`, by name.
func ivrGateways(cf composeFile) map[string]service {
	out := map[string]service{}
	for name, s := range cf.Services {
		if len(s.Command) > 0 && s.Command[0] == "serve" {
			out[name] = s
		}
	}
	return out
}

// listenPort returns the port of a listen address such as ":8080" or
// "127.0.0.1:9000".
func listenPort(tb testing.TB, addr string) int {
	tb.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatalf("listen address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		tb.Fatalf("listen address %q: %v", addr, err)
	}
	return n
}

// gatewayAddrs returns where each gateway service is reached from another
// container: the host name of its network namespace and its IVR_ADDR port.
func gatewayAddrs(t *testing.T, cf composeFile) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, s := range ivrGateways(cf) {
		addr, _, err := interpolate(s.Environment["IVR_ADDR"])
		if err != nil {
			t.Fatalf("%s IVR_ADDR: %v", name, err)
		}
		out[name] = net.JoinHostPort(namespaceOf(name, s), strconv.Itoa(listenPort(t, addr)))
	}
	return out
}

// flagValue returns the value of --name or -name in a command line, in
// either the "--name value" or the "--name=value" form.
func flagValue(cmd []string, name string) (string, bool) {
	for i, a := range cmd {
		for _, p := range []string{"--" + name, "-" + name} {
			if a == p && i+1 < len(cmd) {
				return cmd[i+1], true
			}
			if v, ok := strings.CutPrefix(a, p+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

// TestSharedNamespacePorts: the services sharing the authserver's network
// namespace (AS, MCP server, the gateway and the replicas) listen on
// distinct ports.
func TestSharedNamespacePorts(t *testing.T) {
	cf := loadCompose(t)
	used := map[int]string{}
	claim := func(name string, port int) {
		if other, dup := used[port]; dup {
			t.Errorf("%s and %s both listen on port %d in one network namespace", other, name, port)
		}
		used[port] = name
	}
	for name, s := range cf.Services {
		if namespaceOf(name, s) != "authserver" {
			continue
		}
		if len(s.Command) > 0 && s.Command[0] == "serve" {
			addr, _, _ := interpolate(s.Environment["IVR_ADDR"])
			claim(name, listenPort(t, addr))
			continue
		}
		addr, ok := flagValue(s.Command, "addr")
		if !ok {
			t.Errorf("service %s shares the authserver's namespace but its command names no --addr", name)
			continue
		}
		claim(name, listenPort(t, addr))
	}
	if len(used) < 5 {
		t.Errorf("listeners in the authserver's namespace: %v; want the AS, the MCP server and three gateways", used)
	}
}

// hostPath returns the file on the host that a service sees at container
// path p, through its bind mounts ("" if none covers it).
func hostPath(s service, p string) string {
	best, bestDst := "", ""
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || !strings.HasPrefix(parts[0], ".") {
			continue
		}
		src, dst := parts[0], parts[1]
		if (p == dst || strings.HasPrefix(p, dst+"/")) && len(dst) > len(bestDst) {
			best, bestDst = filepath.Join(root, src, strings.TrimPrefix(p, dst)), dst
		}
	}
	return best
}

func readYAML(tb testing.TB, file string, v any) {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", file, err)
	}
}

// TestObservabilityProfile: Prometheus scrapes every gateway service
// directly, Grafana is provisioned with it as the default data source and
// with the dashboard file, anonymous users only view, Jaeger takes OTLP from
// the other containers, and tracing is off unless asked for.
func TestObservabilityProfile(t *testing.T) {
	cf := loadCompose(t)

	prom := cf.Services["prometheus"]
	cfgPath, ok := flagValue(prom.Command, "config.file")
	if !ok {
		cfgPath = "/etc/prometheus/prometheus.yml" // the image's default
	}
	promFile := hostPath(prom, cfgPath)
	if promFile == "" {
		t.Fatalf("prometheus reads %s, which no bind mount provides", cfgPath)
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			Scheme        string `yaml:"scheme"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, promFile, &pc)
	scraped := map[string]string{} // target -> job
	jobs := map[string]bool{}
	for _, sc := range pc.ScrapeConfigs {
		if jobs[sc.JobName] {
			t.Errorf("prometheus: job %q twice", sc.JobName)
		}
		jobs[sc.JobName] = true
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("prometheus job %s scrapes %s; the gateway serves /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				scraped[target] = sc.JobName
			}
		}
	}
	for name, addr := range gatewayAddrs(t, cf) {
		if _, ok := scraped[addr]; !ok {
			t.Errorf("prometheus does not scrape %s at %s", name, addr)
		}
	}
	if lbPort := "lb:8080"; scraped[lbPort] != "" {
		t.Errorf("prometheus scrapes the balancer: a balanced scrape mixes the instances' counters")
	}

	graf := cf.Services["grafana"]
	env := map[string]string{}
	for k, v := range graf.Environment {
		env[k], _, _ = interpolate(v)
	}
	if env["GF_AUTH_ANONYMOUS_ENABLED"] != "true" || env["GF_AUTH_ANONYMOUS_ORG_ROLE"] != "Viewer" {
		t.Errorf("grafana: anonymous access %q as %q; want true as Viewer", env["GF_AUTH_ANONYMOUS_ENABLED"], env["GF_AUTH_ANONYMOUS_ORG_ROLE"])
	}
	if home := env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if f := hostPath(graf, home); f == "" {
			t.Errorf("grafana's home dashboard %s is not mounted", home)
		} else if _, err := os.Stat(f); err != nil {
			t.Errorf("grafana's home dashboard: %v", err)
		}
	}
	provDir := hostPath(graf, "/etc/grafana/provisioning")
	if provDir == "" {
		t.Fatal("grafana: nothing is mounted at /etc/grafana/provisioning")
	}
	var ds struct {
		Datasources []struct {
			Name, UID, Type, URL, Access string
			IsDefault                    bool `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(provDir, "datasources", "datasources.yml"), &ds)
	promURL := "http://prometheus:" + strconv.Itoa(listenPortOr(prom.Command, "web.listen-address", 9090))
	var defaultProm bool
	for _, d := range ds.Datasources {
		switch d.Type {
		case "prometheus":
			if d.URL != promURL {
				t.Errorf("grafana's Prometheus data source is %s, want %s", d.URL, promURL)
			}
			defaultProm = defaultProm || d.IsDefault
		case "jaeger":
			if d.URL != "http://jaeger:16686" {
				t.Errorf("grafana's Jaeger data source is %s, want http://jaeger:16686", d.URL)
			}
		}
	}
	if !defaultProm {
		t.Errorf("grafana: no default Prometheus data source (the dashboard's datasource variable picks the default)")
	}
	var dp struct {
		Providers []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(provDir, "dashboards", "dashboards.yml"), &dp)
	var provisioned bool
	for _, p := range dp.Providers {
		dir := hostPath(graf, p.Options.Path)
		if p.Type != "file" || dir == "" {
			t.Errorf("grafana dashboard provider %q reads %s, which is not a mounted directory", p.Type, p.Options.Path)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, dashboardFile)); err == nil {
			provisioned = true
		}
	}
	if !provisioned {
		t.Errorf("grafana's dashboard providers do not load %s", dashboardFile)
	}
	if deps := graf.dependsOn(t); deps["prometheus"] == "" {
		t.Errorf("grafana does not depend on prometheus")
	}

	// Jaeger listens for OTLP on every interface of its container (its
	// default is localhost only), so the other containers reach it.
	jaeger := cf.Services["jaeger"]
	for _, want := range []string{"0.0.0.0:4317", "0.0.0.0:4318"} {
		if !slices.ContainsFunc(jaeger.Command, func(a string) bool { return strings.HasSuffix(a, "endpoint="+want) }) {
			t.Errorf("jaeger: no OTLP receiver on %s", want)
		}
	}

	// Traces: every ivr service names itself and exports only when asked;
	// the default stack must not need the collector.
	for name, s := range cf.Services {
		if s.Build.Kind == 0 {
			continue
		}
		v, ok := s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
		if !ok {
			t.Errorf("%s does not pass OTEL_EXPORTER_OTLP_ENDPOINT", name)
			continue
		}
		if got, _, _ := interpolate(v); got != "" {
			t.Errorf("%s exports traces to %q by default: the default stack has no collector", name, got)
		}
		if s.Environment["OTEL_SERVICE_NAME"] == "" {
			t.Errorf("%s sets no OTEL_SERVICE_NAME", name)
		}
	}
}

// listenPortOr returns the port of a --name=ADDR flag, or def.
func listenPortOr(cmd []string, name string, def int) int {
	addr, ok := flagValue(cmd, name)
	if !ok {
		return def
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return def
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return def
	}
	return n
}

// clusterNodes returns the cluster profile's Redis nodes, by service name.
func clusterNodes(cf composeFile) []string {
	var out []string
	for name := range cf.Services {
		if strings.HasPrefix(name, "redis-node-") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// TestClusterProfile: six Redis nodes announcing their service names, a
// one-shot that forms them into a cluster once all answer, two gateway
// replicas on it that share everything a call needs, and the balancer.
func TestClusterProfile(t *testing.T) {
	cf := loadCompose(t)
	nodes := clusterNodes(cf)
	if len(nodes) != 6 {
		t.Fatalf("redis nodes %q: want six (three primaries, a replica each)", nodes)
	}
	conf := readNodeConf(t)
	if conf["port"] != "6379" || conf["cluster-enabled"] != "yes" {
		t.Errorf("deploy/redis-cluster/node.conf: port %q, cluster-enabled %q; want 6379, yes", conf["port"], conf["cluster-enabled"])
	}
	var seeds []string
	for _, n := range nodes {
		s := cf.Services[n]
		if got, _ := flagValue(s.Command, "cluster-announce-hostname"); got != n {
			t.Errorf("%s announces itself as %q, want its service name", n, got)
		}
		if len(s.Command) < 2 || s.Command[0] != "redis-server" || hostPath(s, s.Command[1]) != filepath.Join(root, nodeConfFile) {
			t.Errorf("%s command %q: want redis-server with %s", n, s.Command, nodeConfFile)
		}
		if s.Healthcheck == nil || !slices.Contains(s.Healthcheck.Test, "ping") {
			t.Errorf("%s has no redis-cli ping health check", n)
		}
		seeds = append(seeds, n+":6379")
	}

	init := cf.Services["redis-cluster-init"]
	deps := init.dependsOn(t)
	for _, n := range nodes {
		if deps[n] != "service_healthy" {
			t.Errorf("redis-cluster-init does not wait for %s to be healthy", n)
		}
	}
	if got := strings.Fields(init.Environment["REDIS_CLUSTER_NODES"]); !slices.Equal(got, seeds) {
		t.Errorf("redis-cluster-init REDIS_CLUSTER_NODES = %q, want %q", got, seeds)
	}
	if len(init.Command) != 2 || init.Command[0] != "sh" || hostPath(init, init.Command[1]) != filepath.Join(root, createClusterScript) {
		t.Errorf("redis-cluster-init command %q: want sh with %s", init.Command, createClusterScript)
	}

	allowed := documentedVars(t)
	gateways := ivrGateways(cf)
	base := gatewayEnv(t, "gateway", gateways["gateway"], allowed)
	var replicas []string
	for name, s := range gateways {
		if name == "gateway" {
			continue
		}
		replicas = append(replicas, name)
		env := gatewayEnv(t, name, s, allowed)
		if env["IVR_REDIS_MODE"] != redisconn.ModeCluster {
			t.Errorf("%s IVR_REDIS_MODE = %q, want cluster", name, env["IVR_REDIS_MODE"])
		}
		u, err := url.Parse(env["REDIS_URL"])
		if err != nil {
			t.Errorf("%s REDIS_URL: %v", name, err)
			continue
		}
		got := append([]string{u.Host}, u.Query()["addr"]...)
		if slices.Sort(got); !slices.Equal(got, seeds) {
			t.Errorf("%s REDIS_URL seeds %q, want every node %q", name, got, seeds)
		}
		if rdb, err := redisconn.Open(env["REDIS_URL"], env["IVR_REDIS_MODE"]); err != nil {
			t.Errorf("%s: REDIS_URL %q in cluster mode: %v", name, env["REDIS_URL"], err)
		} else {
			rdb.Close()
		}
		// A call's webhooks land on either replica: both must check the
		// same signatures, open each other's sealed answers, see the same
		// keys and serve the same agents.
		for _, k := range []string{"IVR_PUBLIC_URL", "TWILIO_AUTH_TOKEN", "IVR_SESSION_KEY", "IVR_REDIS_PREFIX",
			"IVR_AUTH_ISSUER", "IVR_CLIENT_ID", "IVR_CLIENT_SECRET", "IVR_SCOPE", "IVR_RESOURCE", "IVR_AGENT_KEYS", "IVR_TRANSPORT"} {
			if env[k] != base[k] {
				t.Errorf("%s %s = %q, the gateway's is %q: replicas must agree", name, k, env[k], base[k])
			}
		}
		d := s.dependsOn(t)
		if d["redis-cluster-init"] != "service_completed_successfully" {
			t.Errorf("%s does not wait for the cluster to be formed", name)
		}
	}
	slices.Sort(replicas)
	if !slices.Equal(replicas, []string{"gateway-1", "gateway-2"}) {
		t.Errorf("gateway replicas %q, want gateway-1 and gateway-2", replicas)
	}

	lb := cf.Services["lb"]
	if !strings.HasPrefix(lb.Image, "haproxy:") {
		t.Errorf("lb image %q, want haproxy", lb.Image)
	}
	cfgFile := hostPath(lb, "/usr/local/etc/haproxy/haproxy.cfg")
	if cfgFile != filepath.Join(root, haproxyConfigFile) {
		t.Fatalf("lb: %s is not mounted at the image's config path", haproxyConfigFile)
	}
	addrs := gatewayAddrs(t, cf)
	var want []string
	for _, r := range replicas {
		want = append(want, addrs[r])
		if _, ok := lb.dependsOn(t)[r]; !ok {
			t.Errorf("lb does not depend on %s", r)
		}
	}
	checkHAProxyConfig(t, parseHAProxy(t, cfgFile), want, lb)
}

// The files under deploy/ the tests read.
const (
	dashboardFile       = "ivr-gateway.json"
	nodeConfFile        = "deploy/redis-cluster/node.conf"
	createClusterScript = "deploy/redis-cluster/create-cluster.sh"
	haproxyConfigFile   = "deploy/haproxy/haproxy.cfg"
)
