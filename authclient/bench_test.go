package authclient

import "testing"

// BenchmarkVerify measures one Verify (challenge and token exchange) against
// the loopback AS double.
func BenchmarkVerify(b *testing.B) {
	d := newASDouble(b)
	c := d.client(b)
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Verify(b.Context(), maria); res.Outcome != Verified {
			b.Fatalf("Verify: %v", res)
		}
	}
}
