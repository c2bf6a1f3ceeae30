package builder

import (
	"bytes"
	"debug/buildinfo"
	"runtime/debug"

	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/manifest"
)

// goBinaries reads the build information of every Go program of a build
// (services, prebuilt ones included, and the inits) for the manifest:
// main package, main module, every linked module with its version and
// go.sum hash. A program without Go build information (a C program, a
// Go binary stripped of it) is left out.
func goBinaries(r *recipe.Recipe, services [][]byte, initBin, slotInitBin []byte) []manifest.GoBinary {
	var out []manifest.GoBinary
	add := func(name string, b []byte) {
		if b == nil {
			return
		}
		bi, err := buildinfo.Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		g := manifest.GoBinary{Name: name, GoVersion: bi.GoVersion, Package: bi.Path, Main: moduleOf(&bi.Main)}
		for _, d := range bi.Deps {
			g.Deps = append(g.Deps, moduleOf(d))
		}
		out = append(out, g)
	}
	for i, s := range r.Services {
		add("service:"+s.Name, services[i])
	}
	add("init", initBin)
	add("init:slot", slotInitBin)
	return out
}

func moduleOf(m *debug.Module) manifest.Module {
	md := manifest.Module{Path: m.Path, Version: m.Version, Sum: m.Sum}
	if m.Replace != nil {
		r := moduleOf(m.Replace)
		md.Replace = &r
	}
	return md
}
