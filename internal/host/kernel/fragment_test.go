package kernel

import (
	"strings"
	"testing"
)

func TestMergeFragments(t *testing.T) {
	got, err := mergeFragments([]Fragment{
		{Name: "a", Data: []byte("CONFIG_A=y\nCONFIG_B=y\n")},
		{Name: "b", Data: []byte("# CONFIG_A is not set\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "CONFIG_B" || got[1].Name != "CONFIG_A" || got[1].Value != "n" || got[1].Source != "b" {
		t.Errorf("mergeFragments = %+v, want B=y from a, then A=n from b", got)
	}
	_, err = mergeFragments([]Fragment{{Name: "ok", Data: []byte("CONFIG_A=y\n")}, {Name: "bad.config", Data: []byte("\nCONFIG_A=maybe\n")}})
	if err == nil || !strings.HasPrefix(err.Error(), "bad.config:2: ") {
		t.Errorf("mergeFragments error = %v, want it to start with bad.config:2:", err)
	}
}
