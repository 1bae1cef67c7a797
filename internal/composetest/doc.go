// Package composetest holds only tests: it checks the repository's
// docker-compose.yml and Dockerfile without a Docker engine (none runs in CI).
// The compose file is parsed with go.yaml.in/yaml/v3 and held to the subset
// of the Compose schema the stack relies on, and to the gateway's own
// configuration (contract §6, cmd/ivr/config.go); the Dockerfile is held to
// the build the README promises: multi-stage, static, non-root.
package composetest
