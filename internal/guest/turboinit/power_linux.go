//go:build linux

package turboinit

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

// Linux input event constants (linux/input-event-codes.h).
const (
	evKey    = 0x01
	keyPower = 116
)

// watchPowerButton turns an ACPI power-button press (QEMU's
// system_powerdown, a cloud "stop") into an orderly shutdown. The button
// appears as an evdev device; without CONFIG_INPUT_EVDEV there is nothing to
// watch and only signals can stop the machine.
func (in *Init) watchPowerButton() {
	devs, _ := filepath.Glob("/dev/input/event*")
	for _, d := range devs {
		f, err := os.Open(d)
		if err != nil {
			continue
		}
		go func() {
			defer f.Close()
			// struct input_event on 64-bit: timeval (16), type u16, code u16, value s32.
			buf := make([]byte, 24)
			for {
				if _, err := f.Read(buf); err != nil {
					return
				}
				typ := binary.LittleEndian.Uint16(buf[16:])
				code := binary.LittleEndian.Uint16(buf[18:])
				val := int32(binary.LittleEndian.Uint32(buf[20:]))
				if typ == evKey && code == keyPower && val == 1 {
					in.events <- evPowerKey{}
				}
			}
		}()
	}
}
