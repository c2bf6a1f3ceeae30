package vmm

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"
)

// QMPPowerdown asks the QEMU listening on the QMP socket at path to press
// the guest's ACPI power button (system_powerdown). The guest decides what
// to do with it; turbo-init shuts down in order and powers off. It returns
// once QEMU acknowledged the command.
//
// Protocol: QEMU sends a greeting, the client must send qmp_capabilities
// before any other command, and every command gets a "return" or "error"
// object; asynchronous "event" objects may come in between
// (docs/interop/qmp-spec.rst in QEMU's source).
func QMPPowerdown(ctx context.Context, path string) error {
	return qmpCommands(ctx, path, "system_powerdown")
}

func qmpCommands(ctx context.Context, path string, cmds ...string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("qmp: %w", err)
	}
	defer c.Close()
	deadline := time.Now().Add(5 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	c.SetDeadline(deadline)
	r := bufio.NewReader(c)
	var greeting map[string]json.RawMessage
	if err := readQMP(r, &greeting); err != nil {
		return fmt.Errorf("qmp greeting: %w", err)
	}
	if _, ok := greeting["QMP"]; !ok {
		return fmt.Errorf("qmp: unexpected greeting")
	}
	for _, cmd := range append([]string{"qmp_capabilities"}, cmds...) {
		if err := json.NewEncoder(c).Encode(map[string]string{"execute": cmd}); err != nil {
			return fmt.Errorf("qmp %s: %w", cmd, err)
		}
		for {
			var resp map[string]json.RawMessage
			if err := readQMP(r, &resp); err != nil {
				return fmt.Errorf("qmp %s: %w", cmd, err)
			}
			if _, ok := resp["event"]; ok {
				continue
			}
			if e, ok := resp["error"]; ok {
				return fmt.Errorf("qmp %s: %s", cmd, e)
			}
			if _, ok := resp["return"]; ok {
				break
			}
		}
	}
	return nil
}

func readQMP(r *bufio.Reader, v any) error {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return err
	}
	return json.Unmarshal(line, v)
}
