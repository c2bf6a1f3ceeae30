package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestTerminalSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain error":                        "plain error",
		"two\nlines\tand a tab":              "two\nlines\tand a tab",
		"clear \x1b[2J screen":               `clear \x1b[2J screen`,
		"title \x1b]0;pwned\x07":             `title \x1b]0;pwned\x07`,
		"carriage\rreturn":                   `carriage\x0dreturn`,
		"del\x7f":                            `del\x7f`,
		"bidi \u202egnp.exe":                 `bidi \u202egnp.exe`,
		"zero\u200bwidth":                    `zero\u200bwidth`,
		"c1 \u009b31m":                       `c1 \u009b31m`,
		"bad utf8 \xff\xfe":                  `bad utf8 \xff\xfe`,
		"Grüße, 日本":                          "Grüße, 日本",
		"line\u2028separator":                `line\u2028separator`,
		"name \"quoted\" and 'single' stays": "name \"quoted\" and 'single' stays",
	} {
		if got := terminalSafe(in); got != want {
			t.Errorf("terminalSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// An error that carries a hostile name reaches stderr escaped.
func TestErrorsReachTheTerminalEscaped(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := MainEnv(context.Background(), []string{"inspect", "/nonexistent/\x1b[2Jx\u202e"}, &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	if code == 0 {
		t.Fatal("inspect of a missing file succeeded")
	}
	if strings.ContainsAny(stderr.String(), "\x1b\u202e") {
		t.Fatalf("stderr carries raw control characters: %q", stderr.String())
	}
	if !strings.Contains(stderr.String(), `\x1b[2J`) {
		t.Fatalf("stderr lost the escaped name: %q", stderr.String())
	}
}
