package supervise

import "testing"

func TestRecordLines(t *testing.T) {
	if got := readyLine("hello", "1.0.0", "", "", 412); got != "TURBO_READY name=hello version=1.0.0 uptime_ms=412" {
		t.Fatal(got)
	}
	if got := readyLine("hello", "1.0.0", "a", "", 9); got != "TURBO_READY name=hello version=1.0.0 slot=a uptime_ms=9" {
		t.Fatal(got)
	}
	if got := readyLine("hello", "1.0.0", "b", "sha256:ab", 9); got != "TURBO_READY name=hello version=1.0.0 slot=b build=sha256:ab uptime_ms=9" {
		t.Fatal(got)
	}
	if got := unhealthyLine("web", "gave up\nafter 3"); got != "TURBO_UNHEALTHY service=web reason=gave up after 3" {
		t.Fatal(got)
	}
	if got := blessedLine("b", "1.0.1"); got != "TURBO_BLESSED slot=b version=1.0.1" {
		t.Fatal(got)
	}
}
