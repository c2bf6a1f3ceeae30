package recipe

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestWrongArchBinaryRealELF compiles one real Go program for amd64 and
// for arm64 and names each, as a service's binary, in a recipe of the
// other arch: the recipe check refuses it at the binary's line, naming
// the binary's arch and the image's.
func TestWrongArchBinaryRealELF(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "bin", "app-"+arch), "main.go")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=", "GOWORK=off")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", arch, err, b)
		}
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "Image"), fakeArm64Image(), 0o644)
	os.WriteFile(filepath.Join(dir, "bzImage"), fakeBzImage(), 0o644)
	for _, c := range []struct{ image, binary, kernel, want string }{
		{"arm64", "amd64", "Image", "is built for amd64 (EM_X86_64), but the image is arm64 (EM_AARCH64)"},
		{"amd64", "arm64", "bzImage", "is built for arm64 (EM_AARCH64), but the image is amd64 (EM_X86_64)"},
	} {
		file := filepath.Join(dir, "recipe-"+c.image+".yaml")
		y := "name: a\nversion: 1.0.0\narch: " + c.image + "\nkernel: {prebuilt: " + c.kernel + "}\nservices:\n" +
			"  - name: ok\n    binary: bin/app-" + c.image + "\n" +
			"  - name: wrong\n    binary: bin/app-" + c.binary + "\n"
		if err := os.WriteFile(file, []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(file)
		got := problems(t, err)
		want := []string{file + `:9: services[1].binary: "bin/app-` + c.binary + `" ` + c.want}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s recipe:\n%s\nwant\n%s", c.image, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}
