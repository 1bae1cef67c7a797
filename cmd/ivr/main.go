// Command ivr is the phone door to healthcare AI agents: a Twilio voice
// gateway that verifies a caller against an OAuth authorization server and
// hands the access token to the agent that takes the call.
//
//	ivr serve       the gateway
//	ivr demo        everything on one machine: Redis, AS, MCP server, gateway
//	ivr call        a terminal phone that dials a gateway as Twilio would
//	ivr replay      recorded call fixtures against a gateway
//	ivr authserver  the reference authorization server alone
//	ivr dtmf        keypad tones found in WAV recordings
//	ivr flow        the call flow, drawn from the dialog's state machine
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	// go-redis reports connection trouble through a process-wide logger of
	// its own; route it into structured logs (it names addresses, never data).
	redis.SetLogger(redisLogger{slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	if pct, ok := gcPercent(os.Args[1:], os.Getenv); ok {
		debug.SetGCPercent(pct)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	status := exitStatus(err)
	if status == 1 {
		fmt.Fprintln(os.Stderr, "ivr:", err)
	}
	os.Exit(status)
}

// parseFlags is fs.Parse with whatever it prints (the usage for -h, or a
// bad flag and the usage) written to stderr in one write. The flag package
// writes a line at a time; a script that probes a flag with
// `ivr authserver -h | grep -q -- -client-rate` under pipefail then races:
// grep exits at the match, the next line's write meets a closed pipe, and
// Go ends the program with SIGPIPE (status 141) although -h succeeded.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	if buf.Len() > 0 {
		stderr.Write(buf.Bytes())
	}
	return err
}

// errUsage: the command line is incomplete (no command, no file to read);
// the usage has been printed.
var errUsage = errors.New("usage")

// exitStatus maps Run's error to the process's exit status: 0 when help
// was asked for (-h), as Go's own flag package does, so that a script
// probing a flag with `ivr authserver -h | grep -q` under pipefail sees
// success; 2 for a command line that cannot run; 1 for a failure, whose
// message main prints.
func exitStatus(err error) int {
	var ec exitCode
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ec):
		return int(ec)
	case errors.Is(err, errUsage):
		return 2
	default:
		return 1
	}
}

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

// exitCode ends the program with a status and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Run dispatches a subcommand. getenv supplies the environment, so tests run
// commands without touching the process's own.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	env := environ(getenv)
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], env, stdout, stderr)
	case "demo":
		return runDemo(ctx, args[1:], env, stdout, stderr)
	case "call":
		return runCall(ctx, args[1:], env, stdin, stdout, stderr)
	case "replay":
		return runReplay(ctx, args[1:], env, stdout, stderr)
	case "authserver":
		return runAuthServer(ctx, args[1:], env, stdout, stderr)
	case "mcp":
		return runMCP(ctx, args[1:], env, stdout, stderr)
	case "dtmf":
		return runDTMF(ctx, args[1:], stdout, stderr)
	case "flow":
		return runFlow(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: ivr <command> [flags]

commands:
  serve       run the gateway (Twilio webhooks, agent API, metrics)
  demo        run Redis, the reference AS, the demo MCP server and the gateway on loopback
  call        dial a gateway from the terminal as Twilio would
  replay      run recorded call fixtures against a gateway
  authserver  run the reference authorization server
  mcp         run the demo MCP server
  dtmf        find keypad tones in WAV files
  flow        print the call flow as a Mermaid or Graphviz diagram

Run 'ivr <command> -h' for a command's flags.
`)
}
