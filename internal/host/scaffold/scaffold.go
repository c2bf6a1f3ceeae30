// Package scaffold plans and writes the recipe folder that `turbo-image
// new` starts a user with: a recipe whose build and `run --exit-on-ready`
// work at once, in one of three starting points (a Go app written here, a
// Go package from a module at a version, a prebuilt static binary).
//
// Plan is pure (name and options in, files out); Write is the thin side
// effect: the folder is assembled under a temporary name beside its
// destination and renamed into place, so it appears whole or not at all,
// and an existing folder (or file) of that name is never touched.
package scaffold

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// Modeline is the first line of every recipe turbo-image writes: it tells
// editors using yaml-language-server (VS Code's YAML extension, Helix,
// Neovim's yamlls...) which schema to complete and check against.
func Modeline(schema string) string {
	return "# yaml-language-server: $schema=" + schema + "\n"
}

// Options choose the starting point. At most one of Package and Binary is
// set; with neither, the folder gets a Go HTTP app of its own.
type Options struct {
	// Package is a Go import path at a module version
	// ("github.com/org/app/cmd/app@v1.2.3" or "@latest").
	Package string
	// Binary is a prebuilt static program; its bytes (BinaryData) are
	// copied into the folder as bin/NAME.
	Binary     string
	BinaryData []byte
	// Module is the Go module path of the generated app (default
	// example.com/NAME).
	Module string
	// Port is the TCP port the service listens on, for its health check
	// and the README (default 8080). For a Package or Binary that does
	// not listen, set NoHealth.
	Port     int
	NoHealth bool
	// Args are the service's arguments for a Package or Binary.
	Args []string
}

// File is one file of the planned folder.
type File struct {
	Path string // slash-separated, relative to the folder
	Mode fs.FileMode
	Data []byte
}

// Plan returns the files of a new recipe folder for the appliance name.
func Plan(name string, o Options) ([]File, error) {
	if !manifest.ValidName(name) {
		return nil, fmt.Errorf("name %q: must be %s (it becomes the appliance's and the service's name)", name, manifest.NameRule)
	}
	if o.Package != "" && o.Binary != "" {
		return nil, errors.New("choose one of a package and a binary")
	}
	if o.Port == 0 {
		o.Port = 8080
	}
	if o.Port < 1 || o.Port > 65535 {
		return nil, fmt.Errorf("port %d: must be 1 to 65535", o.Port)
	}
	svc := strings.TrimRight(name, "-")
	var files []File
	var source, about string
	args := o.Args
	switch {
	case o.Package != "":
		pkg, version, ok := strings.Cut(o.Package, "@")
		if !ok || !recipe.ValidModuleVersion(version) {
			return nil, fmt.Errorf("package %q: write it as IMPORT/PATH@VERSION, with a version like v1.2.3 or latest (built like go install does)", o.Package)
		}
		if strings.HasPrefix(pkg, ".") {
			return nil, fmt.Errorf("package %q: want a Go import path of a module, not a folder", o.Package)
		}
		if msg := recipe.ImportPathProblem(pkg); msg != "" {
			return nil, fmt.Errorf("package %q: %s", o.Package, msg)
		}
		source = "package: " + yamlString(o.Package)
		about = "The service is the Go package `" + o.Package + "`, built like `go install " + o.Package + "` (no go.mod needed here); the build records the module versions it used in the build's manifest.json."
	case o.Binary != "":
		source = "binary: bin/" + svc
		files = append(files, File{Path: "bin/" + svc, Mode: 0o755, Data: o.BinaryData})
		about = "The service is the prebuilt static program bin/" + svc + ", copied from " + o.Binary + "."
	default:
		mod := o.Module
		if mod == "" {
			mod = "example.com/" + name
		}
		if msg := recipe.ImportPathProblem(mod); msg != "" {
			return nil, fmt.Errorf("module %q: %s", mod, msg)
		}
		source = "package: ./app"
		args = []string{"-listen", fmt.Sprintf(":%d", o.Port)}
		files = append(files,
			File{Path: "app/go.mod", Mode: 0o644, Data: []byte("module " + mod + "\n\ngo 1.22\n")},
			File{Path: "app/main.go", Mode: 0o644, Data: []byte(appSource(name))},
		)
		about = "The service is the Go program in app/ (module " + mod + "): GET / answers with a greeting, GET /healthz with ok, which is the health check the init waits for before it reports the appliance ready."
	}
	var r strings.Builder
	r.WriteString(Modeline(recipe.SchemaID))
	fmt.Fprintf(&r, "# %s: a turbo-image appliance (every field: docs/recipe.md).\n", name)
	fmt.Fprintf(&r, "#   turbo-image build recipe.yaml -o out && turbo-image run out --exit-on-ready\n")
	fmt.Fprintf(&r, "name: %s\nversion: 0.1.0\n", name)
	r.WriteString("kernel:\n  base: tinyconfig\n  fragments: [builtin:virt]\n")
	r.WriteString("network: {mode: static, address: 10.0.2.15/24, gateway: 10.0.2.2}\n")
	r.WriteString("outputs: [initramfs, disk]\n")
	fmt.Fprintf(&r, "services:\n  - name: %s\n    %s\n", svc, source)
	if len(args) > 0 {
		quoted := make([]string, len(args))
		for i, a := range args {
			quoted[i] = yamlString(a)
		}
		fmt.Fprintf(&r, "    args: [%s]\n", strings.Join(quoted, ", "))
	}
	if !o.NoHealth {
		check := fmt.Sprintf("tcp: 127.0.0.1:%d", o.Port)
		if o.Package == "" && o.Binary == "" {
			check = fmt.Sprintf("http: http://127.0.0.1:%d/healthz", o.Port)
		}
		fmt.Fprintf(&r, "    health:\n      %s\n", check)
	}
	files = append(files, File{Path: "recipe.yaml", Mode: 0o644, Data: []byte(r.String())})
	files = append(files, File{Path: "README.md", Mode: 0o644, Data: []byte(readme(name, about, o.Port, o.NoHealth))})
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// yamlString quotes s as a YAML double-quoted scalar (JSON's escapes are a
// subset YAML reads the same way) unless it is a plain word.
func yamlString(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("./_-@", c)) {
			plain = false
		}
	}
	if plain && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "@") && strings.ContainsAny(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") {
		return s
	}
	b, _ := jsonQuote(s)
	return b
}

func readme(name, about string, port int, noHealth bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\nA turbo-image appliance. %s\n\n", name, about)
	b.WriteString("```sh\n")
	b.WriteString("turbo-image build recipe.yaml -o out      # kernel, initramfs, disk.img, manifest.json in out/\n")
	b.WriteString("turbo-image run out --exit-on-ready        # boot it in QEMU, wait until it is healthy, exit 0\n")
	if !noHealth {
		fmt.Fprintf(&b, "turbo-image run out --publish %d:%d  # console here; the service on localhost:%d\n", port, port, port)
	}
	b.WriteString("```\n\nrecipe.yaml names the service, the kernel and the network; every field is in\nturbo-image's docs/recipe.md, and editors with yaml-language-server complete and\ncheck it from the schema named on its first line.\n")
	return b.String()
}

func appSource(name string) string {
	return `// Command ` + name + ` is a small HTTP server: GET / greets, GET /healthz
// answers ok (turbo-image's health check).
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	listen := flag.String("listen", ":8080", "address to serve on")
	flag.Parse()
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	log.Printf("` + name + ` listening on %s", *listen)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
`
}

// Write creates dir holding files. It refuses a dir that exists (as
// anything: folder, file or symlink), assembles the files in a temporary
// folder beside it and renames that into place without replacing
// anything that appeared meanwhile; on any failure nothing is left.
func Write(dir string, files []File) (err error) {
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s: %w; choose another name or folder (nothing was written)", dir, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	for _, f := range files {
		if !filepath.IsLocal(f.Path) {
			return fmt.Errorf("file %q is not inside the folder", f.Path)
		}
		p := filepath.Join(tmp, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(p, f.Mode); err != nil { // past the umask
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes 0700
		return err
	}
	if err := renameNoReplace(tmp, dir); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w; choose another name or folder (nothing was written)", dir, fs.ErrExist)
		}
		return err
	}
	return nil
}
