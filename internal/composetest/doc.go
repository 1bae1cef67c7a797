// Package composetest holds only tests: it checks the repository's
// docker-compose.yml, Dockerfile and deploy/ files without a Docker engine
// (none runs in CI). The compose file is parsed with go.yaml.in/yaml/v3 and
// held to the subset of the Compose schema the stack relies on, to the
// gateway's own configuration (the README's configuration table, cmd/ivr/config.go) and to what
// its profiles promise; the Dockerfile is held to the build the README
// promises: multi-stage, static, non-root.
//
// What can run here runs: the Grafana dashboard's queries are checked
// against the /metrics of gateways started in process and driven through
// calls; the cluster profile's Redis files form a real six-node cluster;
// the balancer's HAProxy file runs in front of two in-process gateways when
// a haproxy binary is installed (skipped, saying so, when it is not).
package composetest
