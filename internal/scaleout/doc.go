// Package scaleout tests the gateway as a hospital runs it: several `ivr
// serve` processes sharing a Redis Cluster behind a round-robin balancer,
// with an instance and a Redis primary killed under load. It has no code of
// its own, only that test (scaleout_test.go) and its helpers: real
// processes, real Redis nodes, the reference authorization server, and the
// Twilio simulator placing the calls.
package scaleout
