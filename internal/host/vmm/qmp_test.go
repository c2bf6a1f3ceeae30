package vmm

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// fakeQMP serves the QMP handshake and records commands.
func fakeQMP(t *testing.T, answer func(cmd string) string) (string, chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cmds := make(chan string, 10)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte(`{"QMP": {"version": {}, "capabilities": []}}` + "\n"))
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var m map[string]string
			json.Unmarshal(sc.Bytes(), &m)
			cmds <- m["execute"]
			c.Write([]byte(answer(m["execute"]) + "\n"))
		}
	}()
	return path, cmds
}

func TestQMPPowerdown(t *testing.T) {
	path, cmds := fakeQMP(t, func(cmd string) string {
		if cmd == "system_powerdown" {
			return `{"event": "POWERDOWN", "data": {}}` + "\n" + `{"return": {}}`
		}
		return `{"return": {}}`
	})
	if err := QMPPowerdown(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	if a, b := <-cmds, <-cmds; a != "qmp_capabilities" || b != "system_powerdown" {
		t.Fatalf("commands %q %q", a, b)
	}
}

func TestQMPError(t *testing.T) {
	path, _ := fakeQMP(t, func(cmd string) string {
		if cmd == "system_powerdown" {
			return `{"error": {"class": "GenericError", "desc": "nope"}}`
		}
		return `{"return": {}}`
	})
	err := QMPPowerdown(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("got %v", err)
	}
	if err := QMPPowerdown(context.Background(), filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("missing socket accepted")
	}
}

func TestQMPArgument(t *testing.T) {
	_, args, err := QEMUCommand(Spec{Accel: AccelTCG, Kernel: "k", QMP: "/run/a,b.sock"})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(args, " "); !strings.Contains(got, "-qmp unix:/run/a,,b.sock,server=on,wait=off") {
		t.Fatalf("args %s", got)
	}
}
