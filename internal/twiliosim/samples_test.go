package twiliosim

import (
	"bufio"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// sampleKeys returns the keys of the recorded bodies in
// testdata/webhook-bodies.txt (a copy of shared/samples), by label ("A").
func sampleKeys(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/webhook-bodies.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	label := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# ["); ok {
			label, _, _ = strings.Cut(rest, "]")
			continue
		}
		if line == "" || line[0] == '#' || label == "" {
			continue
		}
		if _, q, ok := strings.Cut(line, "?"); ok && line[0] == '/' {
			line = q
		}
		v, err := url.ParseQuery(line)
		if err != nil {
			t.Fatalf("sample [%s]: %v", label, err)
		}
		out[label] = keys(v)
		label = ""
	}
	return out
}

// TestSampleKeySets compares what the simulator sends with the key sets of
// real Twilio requests: [A] a DTMF gather action, [D] an incoming call
// (plus StirVerstat, as in GooeyAI's recorded set), [E] a completed status
// callback (less AnsweredBy, which only answering-machine detection adds).
func TestSampleKeySets(t *testing.T) {
	t.Parallel()
	samples := sampleKeys(t)
	g := newGateway(t, map[string][]reply{
		"/twilio/voice":  {{Body: twiml(dobGather)}},
		"/twilio/gather": {{Body: twiml(`<Hangup/>`)}},
		"/twilio/status": {{Status: http.StatusNoContent}},
	})
	cfg := g.config()
	now := time.Date(2018, 3, 25, 9, 52, 30, 0, time.UTC)
	cfg.Now = func() time.Time { return now }
	c, _, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Press(t.Context(), "01051980"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(49 * time.Second)
	if err := c.Hangup(t.Context(), "completed"); err != nil {
		t.Fatal(err)
	}
	reqs := g.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	want := map[string][]string{
		"D": append(slices.Clone(samples["D"]), "StirVerstat"),
		"A": samples["A"],
		"E": slices.DeleteFunc(slices.Clone(samples["E"]), func(k string) bool { return k == "AnsweredBy" }),
	}
	for i, label := range []string{"D", "A", "E"} {
		w := want[label]
		slices.Sort(w)
		if diff := cmp.Diff(keys(reqs[i].Form), w); diff != "" {
			t.Errorf("request %d vs sample [%s] keys (-got +want):\n%s", i, label, diff)
		}
	}
	// Recorded [E] said "Sun, 25 Mar 2018 09:53:19 +0000" for the same clock.
	if got, want := reqs[2].Form.Get("Timestamp"), "Sun, 25 Mar 2018 09:53:19 +0000"; got != want {
		t.Errorf("Timestamp = %q, want %q", got, want)
	}
}
