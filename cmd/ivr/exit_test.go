package main

import (
	"errors"
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"ran", nil, 0},
		{"help asked for", flag.ErrHelp, 0},
		{"help asked for, wrapped", fmt.Errorf("authserver: %w", flag.ErrHelp), 0},
		{"nothing to run", errUsage, 2},
		{"a command's own status", exitCode(3), 3},
		{"failure", errors.New("listen: address in use"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitStatus(tt.err); got != tt.want {
				t.Errorf("exitStatus(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

// TestHelpProbeUnderPipefail runs the probe the pinned measurement
// (shared/bench/webhook-load/measure.sh) uses to find the AS's
// -client-rate flag. With -h exiting 2, pipefail failed the probe, the flag
// was never passed, and all but 120 calls a minute ended at the AS's rate
// limit instead of being verified. With the usage written a line at a
// time, grep's early exit killed ivr with SIGPIPE (status 141) in about
// 2 of 100 probes, so each probe runs 100 times.
func TestHelpProbeUnderPipefail(t *testing.T) {
	bin := buildIvr(t)
	for _, tt := range []struct {
		args, flag string
		times      int
	}{
		{"authserver -h", "-client-rate", 100},
		{"serve -h", "-pprof", 100},
		{"help", "serve", 5},
	} {
		probe := fmt.Sprintf("set -o pipefail; for i in $(seq %d); do %q %s 2>&1 | grep -q -- %q || exit $?; done",
			tt.times, bin, tt.args, tt.flag)
		if out, err := exec.Command("bash", "-c", probe).CombinedOutput(); err != nil {
			t.Errorf("ivr %s | grep -q %s under pipefail, %d times: %v %s", tt.args, tt.flag, tt.times, err, out)
		}
	}
	for _, args := range []string{"", "dtmf", "flow extra", "replay"} {
		cmd := exec.Command(bin, strings.Fields(args)...)
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("ivr %s: %v, want exit status 2 (nothing to run)", args, err)
		}
	}
}
