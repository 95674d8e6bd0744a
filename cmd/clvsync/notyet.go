package main

import (
	"fmt"
	"io"
)

func notYet(name string, stderr io.Writer) int {
	fmt.Fprintf(stderr, "clvsync %s is not available in this build\n", name)
	return exitUsage
}
