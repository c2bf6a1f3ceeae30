package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// devUptime is the dev loop's ready line for a restarted jail.
var devUptime = regexp.MustCompile(`ready: \S+ \S+, jail uptime (\d+) ms`)

// measureDev is row 7b: `turbo-image dev` on a copy of the bench recipe
// whose app is a local package; each run rewrites the app's answer and
// times the save to the first HTTP answer of the new version (wall) and
// the new jail's TURBO_READY uptime (guest).
func (b *bench) measureDev(ctx context.Context, rr *rowRun, runs int) error {
	r := rr.row
	r.Title = "turbo-image dev: save to new answer"
	r.Machine = "jail"
	r.Boot = "`turbo-image dev RECIPE --net private --publish PORT:8080` on a copy of " + helloRecipe + " with the bench app as a local package (its own go.mod); each run rewrites the app's answer in main.go. Host wall is the file's write to the first HTTP answer of the new version (poll, rebuild of the initramfs, orderly stop of the old jail, start of the new); the guest column is the new jail's TURBO_READY uptime."
	dir := filepath.Join(b.tmp, "dev")
	app := filepath.Join(dir, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(b.root, "bench", "app", "main.go"))
	if err != nil {
		return err
	}
	for _, f := range []string{"sys_linux.go", "sys_other.go"} {
		bb, err := os.ReadFile(filepath.Join(b.root, "bench", "app", f))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(app, f), bb, 0o644); err != nil {
			return err
		}
	}
	const literal = `"hello from %s %s`
	if !strings.Contains(string(src), literal) {
		return fmt.Errorf("bench/app/main.go has no %s to change", literal)
	}
	writeApp := func(marker string) error {
		return os.WriteFile(filepath.Join(app, "main.go"), []byte(strings.Replace(string(src), literal, `"`+marker+` from %s %s`, 1)), 0o644)
	}
	if err := writeApp("hello"); err != nil {
		return err
	}
	// The app's own module, with the repository's version of x/sys (its
	// only dependency) and go.sum: the build stays offline.
	gomod, err := os.ReadFile(filepath.Join(b.root, "go.mod"))
	if err != nil {
		return err
	}
	xsys := regexp.MustCompile(`(?m)^\s*golang.org/x/sys (v\S+)`).FindSubmatch(gomod)
	if xsys == nil {
		return errors.New("go.mod names no golang.org/x/sys version")
	}
	goLine := regexp.MustCompile(`(?m)^go \S+$`).Find(gomod)
	if goLine == nil {
		return errors.New("go.mod has no go line")
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module benchdev\n\n"+string(goLine)+"\n\nrequire golang.org/x/sys "+string(xsys[1])+"\n"), 0o644); err != nil {
		return err
	}
	gosum, err := os.ReadFile(filepath.Join(b.root, "go.sum"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), gosum, 0o644); err != nil {
		return err
	}
	recipeYAML := "name: hello\nversion: 1.0.0\nkernel:\n  base: tinyconfig\n  fragments: [builtin:virt]\ncmdline: [quiet]\noutputs: [initramfs]\n" +
		"services:\n  - name: hello\n    package: ./app\n    args: [\"-listen\", \":8080\"]\n    health:\n      http: http://127.0.0.1:8080/healthz\n"
	recipe := filepath.Join(dir, "recipe.yaml")
	if err := os.WriteFile(recipe, []byte(recipeYAML), 0o644); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	r.Commands = []string{
		b.vars.command("bin/turbo-image", "dev", recipe, "--net", "private", "--publish", strconv.Itoa(displayPort)+":8080") + " &",
		"sed -i 's/\"hello from/\"v2 from/' " + b.vars.word(filepath.Join(app, "main.go")) + "   # then poll until the answer starts with v2",
	}
	cmd := exec.CommandContext(ctx, b.turbo, "dev", recipe, "--net", "private", "--publish", fmt.Sprintf("%d:8080", port))
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = io.Discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()
	uptimes := make(chan int64, 16)
	var logTail strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			l := sc.Text()
			if logTail.Len() < 8000 {
				logTail.WriteString(l + "\n")
			}
			if m := devUptime.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				select {
				case uptimes <- n:
				default:
				}
			}
		}
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	answer := func(prefix string, timeout time.Duration) (time.Time, error) {
		deadline := time.Now().Add(timeout)
		client := &http.Client{Timeout: time.Second}
		for time.Now().Before(deadline) {
			if resp, err := client.Get(url); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.HasPrefix(string(body), prefix) {
					return time.Now(), nil
				}
			}
			select {
			case <-ctx.Done():
				return time.Time{}, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		return time.Time{}, fmt.Errorf("no answer starting %q within %v; dev said:\n%s", prefix, timeout, logTail.String())
	}
	if _, err := answer("hello from", 10*time.Minute); err != nil {
		return err
	}
	<-uptimes // the first jail's
	for i := 1; i <= runs; i++ {
		marker := fmt.Sprintf("v%d", i+1)
		// Past the file system's time stamp granularity, so the save is seen.
		time.Sleep(50 * time.Millisecond)
		saved := time.Now()
		if err := writeApp(marker); err != nil {
			return err
		}
		at, err := answer(marker+" from", 5*time.Minute)
		if err != nil {
			rr.failures = append(rr.failures, firstLine(err.Error(), 200))
			continue
		}
		rr.wall = append(rr.wall, float64(at.Sub(saved).Microseconds())/1000)
		select {
		case n := <-uptimes:
			rr.guest = append(rr.guest, float64(n))
		case <-time.After(2 * time.Second):
		}
	}
	return nil
}
