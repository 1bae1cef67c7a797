package authclient

import "testing"

// BenchmarkVerify measures one Verify (challenge and token exchange) against
// the loopback AS double.
func BenchmarkVerify(b *testing.B) {
	d := newDouble(b)
	c := testClient(b, d)
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Verify(b.Context(), maria); res.Outcome != Verified {
			b.Fatalf("Verify: %v", res)
		}
	}
}
