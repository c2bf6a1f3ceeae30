package builder

import (
	"reflect"
	"slices"
	"testing"

	"github.com/turbo-image/turbo-image/internal/host/recipe"
	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

// A recipe with limits gets an init built with turbo_limits and an init
// config carrying them (a copy, not the recipe's own value); one without
// gets neither.
func TestLimitsReachTheInit(t *testing.T) {
	l := &initconfig.Limits{Memory: 64 << 20, CPUWeight: 50, OpenFiles: 100, Processes: 8}
	r := &recipe.Recipe{Name: "x", Version: "1", Network: recipe.Network{Mode: "none"}, Services: []recipe.Service{
		{Name: "a", Path: "/bin/a", WorkDir: "/", Restart: "always", RestartLimit: recipe.RestartLimit{Burst: 1, Interval: 1}},
		{Name: "b", Path: "/bin/b", WorkDir: "/", Restart: "always", RestartLimit: recipe.RestartLimit{Burst: 1, Interval: 1}, Limits: l},
	}}
	for _, disk := range []bool{false, true} {
		if tags := initTags(r, disk); !slices.Contains(tags, "turbo_limits") {
			t.Errorf("disk=%v: tags %v lack turbo_limits", disk, tags)
		}
	}
	c := initConfig(r, "id", nil, "")
	if c.Services[0].Limits != nil || !reflect.DeepEqual(c.Services[1].Limits, l) || c.Services[1].Limits == l {
		t.Errorf("init config limits: %+v, %+v", c.Services[0].Limits, c.Services[1].Limits)
	}
	if _, err := c.Marshal(); err != nil {
		t.Errorf("init config: %v", err)
	}
	r.Services[1].Limits = nil
	if tags := initTags(r, true); slices.Contains(tags, "turbo_limits") {
		t.Errorf("no limits, yet tags %v", tags)
	}
}
