package main

import (
	"context"
	"errors"
	"io"
)

func runDemo(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	return errors.New("demo: not built yet")
}
func runCall(ctx context.Context, args []string, env environ, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("call: not built yet")
}
func runReplay(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	return errors.New("replay: not built yet")
}
func runAuthServer(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	return errors.New("authserver: not built yet")
}
