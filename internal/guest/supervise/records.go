package supervise

import (
	"fmt"

	"github.com/turbo-image/turbo-image/internal/shared/console"
)

// readyLine formats the TURBO_READY record.
func readyLine(name, version, slot, build string, uptimeMS int64) string {
	kv := []string{"name", name, "version", version}
	if slot != "" {
		kv = append(kv, "slot", slot)
	}
	if build != "" {
		kv = append(kv, "build", build)
	}
	return console.Format(console.Ready, append(kv, "uptime_ms", fmt.Sprint(uptimeMS))...)
}

// unhealthyLine formats the TURBO_UNHEALTHY record.
func unhealthyLine(service, reason string) string {
	return console.Format(console.Unhealthy, "service", service, "reason", reason)
}

// blessedLine formats the TURBO_BLESSED record.
func blessedLine(slot, version string) string {
	return console.Format(console.Blessed, "slot", slot, "version", version)
}
