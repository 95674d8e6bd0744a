package main

import (
	"context"
	"io"
)

func runServe(ctx context.Context, stop context.CancelFunc, args []string, stdout, stderr io.Writer) int {
	return notYet("serve", stderr)
}
func runRuns(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return notYet("runs", stderr)
}
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return notYet("status", stderr)
}
