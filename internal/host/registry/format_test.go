package registry

import (
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// goodManifest is a valid turbo-image OCI manifest (as Push writes it).
func goodManifest(t testing.TB) []byte {
	m := &manifest.Manifest{Schema: manifest.Schema, Name: "hello", Version: "1", Arch: "amd64"}
	k := manifest.Digest("kernel", []byte("k"))
	m.Artifacts = []manifest.File{k}
	mb, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var ls []layer
	for _, f := range []manifest.File{k, manifest.Digest(manifest.FileName, mb)} {
		mt, _ := mediaTypeOf(f.Name)
		ls = append(ls, layer{Name: f.Name, File: f, Desc: descOf(mt, f)})
	}
	b, err := buildManifest(m, ls)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseManifest(t *testing.T) {
	good := string(goodManifest(t))
	if _, err := parseManifest([]byte(good)); err != nil {
		t.Fatalf("good manifest refused: %v\n%s", err, good)
	}
	cases := []struct{ name, from, to, want string }{
		{"other artifact type", "application/vnd.turbo-image.build.v1", "application/vnd.example", "not a turbo-image build"},
		{"path in title", `"org.opencontainers.image.title":"kernel"`, `"org.opencontainers.image.title":"../kernel"`, "not a plain file name"},
		{"slash in title", `"org.opencontainers.image.title":"kernel"`, `"org.opencontainers.image.title":"a/kernel"`, "not a plain file name"},
		{"duplicate", `"org.opencontainers.image.title":"manifest.json"`, `"org.opencontainers.image.title":"kernel"`, "appears twice"},
		{"wrong media type", MediaTypeKernel, MediaTypeSlotRoot, "media type"},
		{"unknown file", `"org.opencontainers.image.title":"kernel"`, `"org.opencontainers.image.title":"evil.sh"`, "no layer media type"},
		{"no manifest layer", `"org.opencontainers.image.title":"manifest.json"`, `"org.opencontainers.image.title":"initramfs.x"`, "media type"},
		{"non-empty config", `"config":{"mediaType":"application/vnd.oci.empty.v1+json"`, `"config":{"mediaType":"application/json"`, "empty config"},
		{"trailing data", `}}`, `}} {}`, ""},
		{"md5 digest", `"digest":"sha256:`, `"digest":"md5:`, ""},
	}
	for _, c := range cases {
		if !strings.Contains(good, c.from) {
			t.Fatalf("%s: %q not in the good manifest", c.name, c.from)
		}
		bad := strings.Replace(good, c.from, c.to, 1)
		if c.name == "trailing data" {
			bad = good + " {}"
		}
		_, err := parseManifest([]byte(bad))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	good := goodManifest(f)
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.turbo-image.build.v1","layers":[{"annotations":{"org.opencontainers.image.title":"/etc/passwd"}}]}`))
	f.Add([]byte(strings.Replace(string(good), "kernel", "..", -1)))
	f.Add([]byte(strings.Replace(string(good), `"size":1`, `"size":-1`, -1)))
	f.Add([]byte(strings.Repeat("[", 10000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parseManifest(data)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, l := range p.Layers {
			if !safeName(l.Name) || seen[l.Name] || l.Desc.Size < 0 {
				t.Fatalf("accepted layer %+v", l)
			}
			seen[l.Name] = true
		}
		if !seen[manifest.FileName] {
			t.Fatal("accepted a manifest without manifest.json")
		}
	})
}
