package composetest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// gatewayEnv interpolates the environment of a service running `ivr serve`
// as `docker compose` does with an empty environment, and checks it: every
// variable it sets or references is one cmd/ivr reads (or an OpenTelemetry
// SDK variable), every the README's configuration table variable is passed, and the ones serve
// cannot start without are not empty.
func gatewayEnv(t *testing.T, name string, s service, allowed map[string]bool) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.Environment {
		if !allowed[k] {
			t.Errorf("%s sets %s, which is neither in the README's configuration table nor read by cmd/ivr", name, k)
		}
		val, refs, err := interpolate(v)
		if err != nil {
			t.Errorf("%s %s: %v", name, k, err)
			continue
		}
		for _, r := range refs {
			if !allowed[r] {
				t.Errorf("%s %s uses ${%s}, which is neither in the README's configuration table nor read by cmd/ivr", name, k, r)
			}
		}
		env[k] = val
	}
	for _, v := range contractVars {
		if _, ok := s.Environment[v]; !ok {
			t.Errorf("%s does not pass the README's configuration table variable %s", name, v)
		}
	}
	for _, v := range requiredVars {
		if env[v] == "" {
			t.Errorf("%s: %s is empty with an empty environment; serve refuses to start", name, v)
		}
	}
	return env
}

var ivrVarRE = regexp.MustCompile(`\bIVR_[A-Z0-9_]*[A-Z0-9](_\*)?`)

// readmeVars returns the IVR_ names the README mentions, and the families
// it documents as a whole ("IVR_AS_*" documents every IVR_AS_ variable).
func readmeVars(tb testing.TB) (names map[string]bool, families []string) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	names = map[string]bool{}
	for _, m := range ivrVarRE.FindAllStringSubmatch(string(b), -1) {
		if m[1] != "" {
			families = append(families, strings.TrimSuffix(m[0], "*"))
			continue
		}
		names[m[0]] = true
	}
	return names, families
}

// TestVariablesDocumented: every IVR_ variable a service of any profile sets
// or references is in the README (by name, or by a family such as
// `IVR_AS_*`) or in the README's configuration table. An operator reading the compose file can
// look each one up.
func TestVariablesDocumented(t *testing.T) {
	cf := loadCompose(t)
	names, families := readmeVars(t)
	documented := func(v string) bool {
		if names[v] || slices.Contains(contractVars, v) {
			return true
		}
		return slices.ContainsFunc(families, func(f string) bool { return strings.HasPrefix(v, f) })
	}
	var missing []string
	for name, s := range cf.Services {
		for k, v := range s.Environment {
			_, refs, err := interpolate(v)
			if err != nil {
				t.Errorf("%s %s: %v", name, k, err)
			}
			for _, x := range append(refs, k) {
				if strings.HasPrefix(x, "IVR_") && !documented(x) {
					missing = append(missing, name+": "+x)
				}
			}
		}
	}
	sort.Strings(missing)
	for _, m := range slices.Compact(missing) {
		t.Errorf("%s is in neither the README nor the README's configuration table", m)
	}
}
