package main

import (
	"context"
	"errors"
	"io"
)

func runDemo(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	return errors.New("demo: not built yet")
}
func runAuthServer(ctx context.Context, args []string, env environ, stdout, stderr io.Writer) error {
	return errors.New("authserver: not built yet")
}
