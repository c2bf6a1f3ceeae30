package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestInterruptedCommandExits130: a command whose work is cut short by
// ctrl-C (a cancelled context) exits 130 like run does, whichever step
// noticed the cancellation, and says it was interrupted; the same failure
// without a cancelled context stays an error (1).
func TestInterruptedCommandExits130(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// A loopback registry nobody listens on: the request is cut short by
	// the context (interrupted) or refused (an error), never answered.
	args := []string{"channels", "127.0.0.1:1/acme/hello"}
	var out, errb bytes.Buffer
	env := &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	if code := MainEnv(ctx, args, env); code != exitInterrupted {
		t.Fatalf("cancelled: exit %d, want %d\n%s", code, exitInterrupted, errb.String())
	}
	if !strings.Contains(errb.String(), "interrupted") {
		t.Errorf("cancelled: stderr does not say interrupted:\n%s", errb.String())
	}
	code, _, stderr := runCLI(t, args...)
	if code != 1 {
		t.Fatalf("not cancelled: exit %d, want 1\n%s", code, stderr)
	}
	if strings.Contains(stderr, "interrupted") {
		t.Errorf("not cancelled, yet called interrupted:\n%s", stderr)
	}
}
