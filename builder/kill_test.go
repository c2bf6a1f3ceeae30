package builder

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelperBuild is not a test: TestKilledBuildLeavesNothingForLong runs
// the test binary with it to have a build in a process it can kill.
func TestHelperBuild(t *testing.T) {
	recipe := os.Getenv("TURBO_TEST_CHILD_RECIPE")
	if recipe == "" {
		t.Skip("helper process only")
	}
	_, err := Build(context.Background(), Options{Recipe: recipe, Out: os.Getenv("TURBO_TEST_CHILD_OUT"),
		Kernel: os.Getenv("TURBO_TEST_CHILD_KERNEL"), CacheDir: os.Getenv("TURBO_TEST_CHILD_CACHE")})
	if err != nil {
		t.Fatal(err)
	}
}

// leftovers lists the temporary folders of builds in dir: ".out.tmp-*"
// next to the output, work-* and init-src-* in the cache.
func leftovers(t *testing.T, dirs ...string) []string {
	t.Helper()
	var out []string
	for _, d := range dirs {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, ".out.tmp-") || strings.HasPrefix(n, workPrefix) || strings.HasPrefix(n, initSrcPrefix) {
				out = append(out, filepath.Join(d, n))
			}
		}
	}
	return out
}

// TestKilledBuildLeavesNothingForLong: issue 9 defect 10. A build killed
// with SIGKILL while it writes its output leaves temporary folders; the
// next build removes them (and succeeds), and nothing else of the
// killed build's stays.
func TestKilledBuildLeavesNothingForLong(t *testing.T) {
	root := t.TempDir()
	src := filepath.Join(root, "hello")
	copyTree(t, "../recipes/hello", src, time.Now())
	os.WriteFile(filepath.Join(src, "recipe.yaml"), []byte(strings.Replace(readFile(t, filepath.Join(src, "recipe.yaml")),
		"outputs: [initramfs, disk]", "outputs: [initramfs]", 1)), 0o644)
	builds := filepath.Join(root, "builds")
	out := filepath.Join(builds, "out")
	kernel := fakeKernel(t)
	cache := testCache

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBuild$")
	cmd.Env = append(os.Environ(), "TURBO_TEST_CHILD_RECIPE="+filepath.Join(src, "recipe.yaml"),
		"TURBO_TEST_CHILD_OUT="+out, "TURBO_TEST_CHILD_KERNEL="+kernel, "TURBO_TEST_CHILD_CACHE="+cache)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill it once its temporary output folder exists and is marked as a
	// build's (a folder killed before its marker is written is not known
	// to be ours, and is rightly left alone).
	var left []string
	for deadline := time.Now().Add(10 * time.Minute); ; {
		if left = leftovers(t, builds); len(left) > 0 {
			if _, err := os.Lstat(filepath.Join(left[0], tempMarker)); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the child build never made its temporary output folder")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	left = leftovers(t, builds, cache)
	if len(left) == 0 {
		t.Skip("SKIP: the child finished before the kill; nothing to clean")
	}
	t.Logf("left by the killed build: %v", left)

	var cleaned []string
	res, err := Build(context.Background(), Options{Recipe: filepath.Join(src, "recipe.yaml"), Out: out, Kernel: kernel, CacheDir: cache,
		Progress: func(p Progress) {
			if p.Step == "cleanup" {
				cleaned = append(cleaned, p.Detail)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Dir != out {
		t.Errorf("built into %s", res.Dir)
	}
	for _, p := range left {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after the next build", p)
		}
	}
	if len(cleaned) == 0 {
		t.Error("the next build reported no cleanup")
	}
	if l := leftovers(t, builds); len(l) > 0 {
		t.Errorf("temporary folders next to the output: %v", l)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
