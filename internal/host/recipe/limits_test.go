package recipe

import (
	"reflect"
	"strings"
	"testing"

	"github.com/turbo-image/turbo-image/internal/shared/initconfig"
)

func TestLimits(t *testing.T) {
	const head = "name: x\nversion: \"1\"\nkernel: {}\nservices:\n  - name: a\n    package: ./app\n"
	for _, tc := range []struct {
		name   string
		limits string // the limits mapping, as YAML flow
		want   *initconfig.Limits
		errs   []string // problems, without the file name; line 7 is the limits line
	}{
		{"all", "{memory: 64MiB, cpu_weight: 100, open_files: 1024, processes: 64}",
			&initconfig.Limits{Memory: 64 << 20, CPUWeight: 100, OpenFiles: 1024, Processes: 64}, nil},
		{"memory in bytes", "{memory: 1048576}", &initconfig.Limits{Memory: 1 << 20}, nil},
		{"memory GiB", "{memory: 2GiB}", &initconfig.Limits{Memory: 2 << 30}, nil},
		{"one field", "{cpu_weight: 10000}", &initconfig.Limits{CPUWeight: 10000}, nil},
		{"bounds", "{cpu_weight: 1, open_files: 1048576, processes: 4194304}",
			&initconfig.Limits{CPUWeight: 1, OpenFiles: 1 << 20, Processes: 1 << 22}, nil},
		{"null", "", nil, nil},
		{"empty", "{}", nil, []string{"7: services[0].limits: must set at least one of memory, cpu_weight, open_files, processes; leave limits out for none"}},
		{"memory without unit", "{memory: 64}", nil, []string{"7: services[0].limits.memory: must be at least 1MiB, not 64 bytes; write the unit, like 64MiB"}},
		{"memory decimal unit", "{memory: 64MB}", nil, []string{`7: services[0].limits.memory: must be a size in bytes or with a KiB, MiB or GiB suffix, like 64MiB, not "64MB"`}},
		{"memory negative", "{memory: -1}", nil, []string{"7: services[0].limits.memory: must be greater than 0, not -1"}},
		{"memory list", "{memory: [1]}", nil, []string{"7: services[0].limits.memory: must be a size like 64MiB, not a list"}},
		{"memory huge", "{memory: 99999999999GiB}", nil, []string{"7: services[0].limits.memory: 99999999999GiB is too large"}},
		{"cpu weight zero", "{cpu_weight: 0}", nil, []string{"7: services[0].limits.cpu_weight: must be between 1 and 10000, not 0"}},
		{"cpu weight string", "{cpu_weight: high}", nil, []string{`7: services[0].limits.cpu_weight: must be an integer, not "high"`}},
		{"cpu weight float", "{cpu_weight: 1.5}", nil, []string{"7: services[0].limits.cpu_weight: must be an integer, not a number"}},
		{"open files over nr_open", "{open_files: 1048577}", nil, []string{"7: services[0].limits.open_files: must be between 1 and 1048576, not 1048577"}},
		{"processes octal", "{processes: 0100}", nil, []string{"7: services[0].limits.processes: must be a decimal integer, not 0100"}},
		{"processes zero", "{processes: 0}", nil, []string{"7: services[0].limits.processes: must be between 1 and 4194304, not 0"}},
		{"unknown key", "{mem: 64MiB}", nil, []string{"7: services[0].limits.mem: unknown key", "7: services[0].limits: must set at least one of memory, cpu_weight, open_files, processes; leave limits out for none"}},
		{"typo", "{memroy: 64MiB, cpu_weight: 5}", &initconfig.Limits{CPUWeight: 5}, []string{"7: services[0].limits.memroy: unknown key (did you mean memory?)"}},
		{"not a mapping", "64MiB", nil, []string{`7: services[0].limits: must be a mapping, not "64MiB"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse(fullFile, []byte(head+"    limits: "+tc.limits+"\n"))
			if len(tc.errs) > 0 {
				var want []string
				for _, e := range tc.errs {
					want = append(want, fullFile+":"+e)
				}
				if got := problems(t, err); !reflect.DeepEqual(got, want) {
					t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Services[0].Limits; !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Limits = %+v, want %+v", got, tc.want)
			}
		})
	}
}
