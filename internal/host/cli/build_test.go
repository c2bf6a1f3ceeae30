package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestBuildCacheFromEnv checks that the cache folder comes from the Env the
// CLI was given, not from the process environment (which has a HOME here).
func TestBuildCacheFromEnv(t *testing.T) {
	var out, errb strings.Builder
	code := MainEnv(context.Background(), []string{"build", "-o", filepath.Join(t.TempDir(), "out"), "recipe.yaml"},
		&Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }})
	if code == 0 || !strings.Contains(errb.String(), "no cache directory") {
		t.Fatalf("exit %d with an empty environment: %s", code, errb.String())
	}
}
