//go:build race

package telephony_test

// raceEnabled: the race detector adds allocations of its own.
const raceEnabled = true
