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
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/redis/go-redis/v9"
)

func main() {
	// go-redis reports connection trouble through a process-wide logger of
	// its own; route it into structured logs (it names addresses, never data).
	redis.SetLogger(redisLogger{slog.New(slog.NewJSONHandler(os.Stderr, nil))})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	var ec exitCode
	switch {
	case err == nil:
	case errors.As(err, &ec):
		os.Exit(int(ec))
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "ivr:", err)
		os.Exit(1)
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
		return flag.ErrHelp
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
