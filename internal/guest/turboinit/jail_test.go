//go:build linux

package turboinit

import "testing"

func TestJailStatus(t *testing.T) {
	if got := jailStatus(nil, []bool{false, false}); got != jailOK {
		t.Errorf("clean services: %d", got)
	}
	if got := jailStatus(nil, []bool{false, true}); got != jailFailed {
		t.Errorf("a service that failed by itself: %d", got)
	}
	if got := jailEpoch("1500000000"); got != 1500000000 {
		t.Errorf("epoch %v", got)
	}
	if got := jailEpoch("junk"); got <= 0 {
		t.Errorf("a bad epoch counts from now, got %v", got)
	}
}
