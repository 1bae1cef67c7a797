package main

// serverGCPercent is the garbage collector's target for the long-running
// commands when the operator has not set GOGC. A webhook allocates a few
// kilobytes that die with it, and the live heap is small (sessions live in
// Redis), so Go's default of 100 collects several times a second under
// load; each collection also evicts the caches of a Redis on the same core.
// Measured with measure.sh, 400 against the default: gateway CPU per
// webhook 104 and 100 µs against 112 and 110, and its Redis's 27.0 and
// 26.4 µs against 28.8 and 27.7 (README, Performance).
const serverGCPercent = 400

// gcPercent returns the GC percent to set for a command line, and false
// when Go's own setting stands: the operator set GOGC (GOMEMLIMIT works
// with either), or the command is a short-lived tool.
func gcPercent(args []string, getenv func(string) string) (int, bool) {
	if len(args) == 0 || getenv("GOGC") != "" {
		return 0, false
	}
	switch args[0] {
	case "serve", "demo", "authserver", "mcp": // they run until stopped
		return serverGCPercent, true
	}
	return 0, false
}
