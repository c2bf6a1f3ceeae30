package turboinit

import "errors"

var errSlotUnsupported = errors.New("booting from a disk slot is not supported by this init")
