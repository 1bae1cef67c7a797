package composetest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// root is the repository root, seen from this package's directory.
const root = "../.."

// contractVars are the gateway's variables of the README's configuration table.
var contractVars = []string{
	"IVR_ADDR", "IVR_PUBLIC_URL", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "REDIS_URL",
	"IVR_AUTH_ISSUER", "IVR_CLIENT_ID", "IVR_CLIENT_SECRET", "IVR_SCOPE", "IVR_RESOURCE",
	"IVR_AGENT_KEYS", "IVR_SESSION_KEY", "IVR_CALLER_LIMIT",
	"IVR_HANDOFF_URL", "IVR_HANDOFF_NUMBER", "IVR_FALLBACK_NUMBER", "IVR_MAX_ATTEMPTS",
	"IVR_REDIS_MODE", "IVR_TRANSPORT",
}

// otelVars are the OpenTelemetry SDK's standard variables (issue 13 §3),
// read by the SDK rather than by cmd/ivr's flags.
var otelVars = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SERVICE_NAME",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_RESOURCE_ATTRIBUTES",
}

// requiredVars must be non-empty, defaults included, or `ivr serve` refuses
// to start (internal/app.New, cmd/ivr config).
var requiredVars = []string{
	"IVR_PUBLIC_URL", "TWILIO_AUTH_TOKEN", "IVR_SESSION_KEY", "IVR_AUTH_ISSUER",
	"REDIS_URL", "IVR_CLIENT_ID", "IVR_CLIENT_SECRET", "IVR_AGENT_KEYS",
}

type composeFile struct {
	Services map[string]service `yaml:"services"`
}

type service struct {
	Profiles    []string          `yaml:"profiles"` // none: the default stack
	Restart     string            `yaml:"restart"`
	Image       string            `yaml:"image"`
	Build       yaml.Node         `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"` // the map form only: it keeps keys unique
	DependsOn   yaml.Node         `yaml:"depends_on"`  // a list of names or a map of name to condition
	Ports       []string          `yaml:"ports"`
	NetworkMode string            `yaml:"network_mode"`
	Volumes     []string          `yaml:"volumes"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

// dependsOn returns the services s depends on, with their conditions
// ("service_started" for the short list form).
func (s service) dependsOn(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	switch s.DependsOn.Kind {
	case 0:
	case yaml.SequenceNode:
		var names []string
		if err := s.DependsOn.Decode(&names); err != nil {
			tb.Fatalf("depends_on: %v", err)
		}
		for _, n := range names {
			out[n] = "service_started"
		}
	case yaml.MappingNode:
		var m map[string]struct {
			Condition string `yaml:"condition"`
		}
		if err := s.DependsOn.Decode(&m); err != nil {
			tb.Fatalf("depends_on: %v", err)
		}
		for n, c := range m {
			out[n] = c.Condition
		}
	default:
		tb.Fatalf("depends_on is neither a list nor a map")
	}
	return out
}

func loadCompose(tb testing.TB) composeFile {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		tb.Fatal(err)
	}
	var cf composeFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&cf); err != nil {
		tb.Fatalf("docker-compose.yml: %v", err)
	}
	if len(cf.Services) == 0 {
		tb.Fatal("docker-compose.yml has no services")
	}
	return cf
}

// documentedVars are the environment variables cmd/ivr reads: the names
// config.go quotes, so a variable added there is allowed here at once.
func documentedVars(tb testing.TB) map[string]bool {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "cmd", "ivr", "config.go"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`"((?:IVR|TWILIO)_[A-Z0-9_]+|REDIS_URL)"`).FindAllSubmatch(b, -1) {
		out[string(m[1])] = true
	}
	for _, v := range contractVars {
		if !out[v] {
			tb.Errorf("the README's configuration table variable %s is not read by cmd/ivr/config.go", v)
		}
		out[v] = true
	}
	for _, v := range otelVars {
		out[v] = true
	}
	return out
}

var refRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

// interpolate expands Compose variable references as `docker compose` does
// with an empty environment: $$, $VAR, ${VAR}, ${VAR:-default},
// ${VAR-default}, ${VAR:?message}, ${VAR?message}, ${VAR:+alt}, ${VAR+alt}.
// It returns the value and the names referenced.
func interpolate(s string) (string, []string, error) {
	var out strings.Builder
	var names []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			out.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			out.WriteByte('$')
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", nil, fmt.Errorf("unterminated ${ in %q", s)
			}
			expr := s[i+2 : i+end]
			name := refRE.FindString(expr)
			if name == "" {
				return "", nil, fmt.Errorf("bad reference ${%s}", expr)
			}
			names = append(names, name)
			switch op := expr[len(name):]; {
			case op == "":
			case strings.HasPrefix(op, ":-"), strings.HasPrefix(op, "-"):
				out.WriteString(strings.TrimPrefix(strings.TrimPrefix(op, ":"), "-"))
			case strings.HasPrefix(op, ":?"), strings.HasPrefix(op, "?"):
				return "", nil, fmt.Errorf("${%s} is required (%s)", name, op)
			case strings.HasPrefix(op, ":+"), strings.HasPrefix(op, "+"):
			default:
				return "", nil, fmt.Errorf("bad reference ${%s}", expr)
			}
			i += end
			continue
		}
		name := refRE.FindString(s[i+1:])
		if name == "" {
			return "", nil, fmt.Errorf("lone $ in %q: write $$", s)
		}
		names = append(names, name)
		i += len(name)
	}
	return out.String(), names, nil
}

func TestInterpolate(t *testing.T) {
	tests := []struct {
		in, want string
		names    []string
		wantErr  bool
	}{
		{"plain", "plain", nil, false},
		{"${A}", "", []string{"A"}, false},
		{"${A:-x:y}", "x:y", []string{"A"}, false},
		{"${A-}", "", []string{"A"}, false},
		{"$$HOME ${B:-b}/$C", "$HOME b/", []string{"B", "C"}, false},
		{"${A:+alt}", "", []string{"A"}, false},
		{"${A:?set A}", "", nil, true},
		{"${A", "", nil, true},
		{"${1A}", "", nil, true},
		{"cost $", "", nil, true},
	}
	for _, tt := range tests {
		got, names, err := interpolate(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("interpolate(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (got != tt.want || !slices.Equal(names, tt.names)) {
			t.Errorf("interpolate(%q) = %q, %q; want %q, %q", tt.in, got, names, tt.want, tt.names)
		}
	}
}

func TestServices(t *testing.T) {
	cf := loadCompose(t)
	for _, name := range []string{"redis", "authserver", "mcp", "gateway"} {
		if _, ok := cf.Services[name]; !ok {
			t.Errorf("service %q is missing", name)
		}
	}
	hostPorts := map[string]string{}
	for name, s := range cf.Services {
		if s.Image == "" && s.Build.Kind == 0 {
			t.Errorf("service %s has neither image nor build", name)
		}
		for dep := range s.dependsOn(t) {
			if _, ok := cf.Services[dep]; !ok || dep == name {
				t.Errorf("service %s depends on %q, which is not another service", name, dep)
			}
		}
		for _, p := range s.Ports {
			host, err := hostPort(p)
			if err != nil {
				t.Errorf("service %s: %v", name, err)
				continue
			}
			// The secrets default to demo values and Grafana lets anyone
			// look: nothing is published beyond the host's loopback.
			if !strings.HasPrefix(host, "127.0.0.1:") {
				t.Errorf("service %s publishes %q: not on 127.0.0.1", name, p)
			}
			if other, dup := hostPorts[host]; dup {
				t.Errorf("host port %s is published by both %s and %s", host, other, name)
			}
			hostPorts[host] = name
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
	// The ivr services run the image of this repository's Dockerfile.
	for _, name := range []string{"authserver", "mcp", "gateway"} {
		var ctx string
		if b := cf.Services[name].Build; b.Kind == yaml.ScalarNode {
			ctx = b.Value
		} else {
			var long struct {
				Context string `yaml:"context"`
			}
			b.Decode(&long)
			ctx = long.Context
		}
		if ctx != "." {
			t.Errorf("service %s: build context = %q, want .", name, ctx)
		}
	}
}

// hostPort returns the host side of a short-syntax port mapping.
func hostPort(p string) (string, error) {
	p, _, _ = strings.Cut(p, "/")
	parts := strings.Split(p, ":")
	switch len(parts) {
	case 2:
		return parts[0], nil
	case 3:
		return parts[0] + ":" + parts[1], nil
	}
	return "", fmt.Errorf("port %q does not publish a fixed host port", p)
}

func TestRedis(t *testing.T) {
	r := loadCompose(t).Services["redis"]
	if !strings.HasPrefix(r.Image, "redis:7") {
		t.Errorf("redis image = %q, want redis:7-alpine", r.Image)
	}
	if r.Healthcheck == nil || !slices.Contains(r.Healthcheck.Test, "ping") {
		t.Errorf("redis has no redis-cli ping healthcheck")
	}
	cmd := strings.Join(r.Command, " ")
	if !strings.Contains(cmd, `--save `) || !strings.Contains(cmd, "--appendonly no") || !slices.Contains(r.Command, "") {
		t.Errorf("redis command %q: want no persistence (--save \"\" --appendonly no)", r.Command)
	}
}

func TestGateway(t *testing.T) {
	cf := loadCompose(t)
	gw := cf.Services["gateway"]
	if len(gw.Command) == 0 || gw.Command[0] != "serve" {
		t.Errorf("gateway command = %q, want serve", gw.Command)
	}
	deps := gw.dependsOn(t)
	if deps["redis"] != "service_healthy" {
		t.Errorf("gateway depends_on redis: %q, want service_healthy", deps["redis"])
	}
	if _, ok := deps["authserver"]; !ok {
		t.Errorf("gateway does not depend on authserver")
	}

	env := gatewayEnv(t, "gateway", gw, documentedVars(t))
	if got := env["REDIS_URL"]; got != "redis://redis:6379/0" {
		t.Errorf("REDIS_URL = %q, want redis://redis:6379/0", got)
	}
	if key, err := base64.StdEncoding.DecodeString(env["IVR_SESSION_KEY"]); err != nil || len(key) != 32 {
		t.Errorf("IVR_SESSION_KEY default is not 32 bytes in base64")
	}
	// authclient.Discover takes http only on loopback: the gateway shares
	// the authorization server's network namespace to reach it there.
	if u, err := url.Parse(env["IVR_AUTH_ISSUER"]); err != nil || (u.Scheme != "https" && u.Hostname() != "127.0.0.1") {
		t.Errorf("IVR_AUTH_ISSUER = %q: the gateway discovers only https issuers off loopback", env["IVR_AUTH_ISSUER"])
	}
	if gw := cf.Services["gateway"]; gw.NetworkMode != "service:authserver" && !strings.HasPrefix(env["IVR_AUTH_ISSUER"], "https://") {
		t.Errorf("gateway network_mode = %q: a loopback issuer needs the authserver's namespace", gw.NetworkMode)
	}

	// The AS knows the gateway's client under the same id and secret.
	as := cf.Services["authserver"]
	clients, _, err := interpolate(as.Environment["IVR_AS_CLIENTS"])
	if err != nil {
		t.Fatalf("authserver IVR_AS_CLIENTS: %v", err)
	}
	if want := env["IVR_CLIENT_ID"] + ":" + env["IVR_CLIENT_SECRET"]; !slices.Contains(strings.Split(clients, ","), want) {
		t.Errorf("authserver IVR_AS_CLIENTS does not hold the gateway's IVR_CLIENT_ID:IVR_CLIENT_SECRET")
	}
	if !slices.Equal(as.Command[:1], []string{"authserver"}) {
		t.Errorf("authserver command = %q", as.Command)
	}
	// ... and registers it for the gateway's scope and resource (anything
	// else is invalid_scope or invalid_target), the MCP tools' scope among
	// them.
	scopes, _, err := interpolate(as.Environment["IVR_AS_SCOPES"])
	if err != nil {
		t.Fatalf("authserver IVR_AS_SCOPES: %v", err)
	}
	allowedScopes := strings.FieldsFunc(scopes, func(r rune) bool { return r == ',' || r == ' ' })
	for _, sc := range strings.Fields(env["IVR_SCOPE"]) {
		if !slices.Contains(allowedScopes, sc) {
			t.Errorf("the gateway asks for scope %q, which the authserver's IVR_AS_SCOPES (%q) does not allow", sc, scopes)
		}
	}
	if !slices.Contains(strings.Fields(env["IVR_SCOPE"]), "patient.read") {
		t.Errorf("gateway IVR_SCOPE = %q: the MCP server's tools need patient.read", env["IVR_SCOPE"])
	}
	resources, _, err := interpolate(as.Environment["IVR_AS_RESOURCES"])
	if err != nil {
		t.Fatalf("authserver IVR_AS_RESOURCES: %v", err)
	}
	if !slices.Contains(strings.FieldsFunc(resources, func(r rune) bool { return r == ',' || r == ' ' }), env["IVR_RESOURCE"]) {
		t.Errorf("the authserver's IVR_AS_RESOURCES (%q) does not allow the gateway's IVR_RESOURCE %q", resources, env["IVR_RESOURCE"])
	}

	// Tokens are minted for the gateway's IVR_RESOURCE; the MCP server
	// admits only tokens whose audience is its own resource URL.
	mcp := cf.Services["mcp"]
	if len(mcp.Command) == 0 || mcp.Command[0] != "mcp" {
		t.Errorf("mcp command = %q, want mcp", mcp.Command)
	}
	res, _, err := interpolate(mcp.Environment["IVR_RESOURCE"])
	if err != nil || res != env["IVR_RESOURCE"] {
		t.Errorf("mcp IVR_RESOURCE = %q (%v), want the gateway's %q", res, err, env["IVR_RESOURCE"])
	}
}

// instructions returns the Dockerfile's instructions, continuation lines
// joined and comments dropped, as [keyword, arguments] pairs.
func instructions(tb testing.TB) [][2]string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		tb.Fatal(err)
	}
	var out [][2]string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(t, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(t)
		kw, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, [2]string{strings.ToUpper(kw), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

func TestDockerfile(t *testing.T) {
	ins := instructions(t)
	var stages [][][2]string
	for _, in := range ins {
		if in[0] == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s before the first FROM", in[0])
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a build stage and a final stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	if !strings.HasPrefix(build[0][1], "golang:1.26") {
		t.Errorf("build stage FROM %q, want golang:1.26", build[0][1])
	}

	var goModAt, srcAt, buildAt = -1, -1, -1
	for i, in := range build {
		switch {
		case in[0] == "COPY" && strings.Contains(in[1], "go.mod") && strings.Contains(in[1], "go.sum"):
			goModAt = i
		case in[0] == "COPY" && strings.HasPrefix(in[1], ". "):
			srcAt = i
		case in[0] == "RUN" && strings.Contains(in[1], "go build"):
			buildAt = i
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags="-s -w"`, "-o /ivr", "./cmd/ivr"} {
				if !strings.Contains(in[1], want) {
					t.Errorf("go build lacks %s: %s", want, in[1])
				}
			}
		}
	}
	if goModAt < 0 || srcAt < 0 || buildAt < 0 || !(goModAt < srcAt && srcAt < buildAt) {
		t.Errorf("build stage must COPY go.mod go.sum, then the sources, then go build (got %d, %d, %d)", goModAt, srcAt, buildAt)
	}

	base := final[0][1]
	scratch := base == "scratch"
	if !scratch && !strings.HasPrefix(base, "gcr.io/distroless/static") {
		t.Errorf("final stage FROM %q, want distroless/static or scratch", base)
	}
	var user, entrypoint string
	var expose []string
	var certs bool
	for _, in := range final {
		switch in[0] {
		case "USER":
			user = in[1]
		case "ENTRYPOINT":
			entrypoint = in[1]
		case "EXPOSE":
			expose = append(expose, strings.Fields(in[1])...)
		case "COPY":
			certs = certs || strings.Contains(in[1], "ca-certificates")
		}
	}
	if u, _, _ := strings.Cut(user, ":"); u == "" || u == "root" || u == "0" {
		t.Errorf("final stage USER = %q, want a non-root user", user)
	}
	if scratch && !certs {
		t.Errorf("a scratch image needs the CA certificates copied in")
	}
	if entrypoint != `["/ivr"]` {
		t.Errorf(`ENTRYPOINT = %s, want ["/ivr"]`, entrypoint)
	}
	if !slices.Contains(expose, "8080") {
		t.Errorf("final stage does not EXPOSE 8080")
	}
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	for _, want := range []string{".git", "/ivr"} {
		if !slices.Contains(lines, want) {
			t.Errorf(".dockerignore does not list %s", want)
		}
	}
	for _, keep := range []string{"go.mod", "go.sum", "*.go", "cmd", "prompts"} {
		if slices.Contains(lines, keep) {
			t.Errorf(".dockerignore drops %s, which the build needs", keep)
		}
	}
}

// TestComposeConfig asks Docker Compose itself, when it is installed:
// `docker compose config` validates the full schema and needs no engine.
func TestComposeConfig(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("no docker client")
	}
	if out, err := exec.Command(docker, "compose", "version").CombinedOutput(); err != nil {
		t.Skipf("no docker compose plugin: %s", bytes.TrimSpace(out))
	}
	// Every profile on, so that every service is validated.
	cmd := exec.Command(docker, "compose", "--file", filepath.Join(root, "docker-compose.yml"),
		"--profile", "observability", "--profile", "cluster", "config", "--quiet")
	// Only the defaults in the file: nothing from the caller's environment.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := string(out)
		if strings.Contains(msg, "Cannot connect to the Docker daemon") || strings.Contains(msg, "docker.sock") {
			t.Skipf("docker compose config needs an engine here: %s", msg)
		}
		t.Fatalf("docker compose config: %v\n%s", err, msg)
	}
}
