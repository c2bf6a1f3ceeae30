//go:build linux && !turbo_disk

package turboinit

import (
	"errors"
	"os"
)

func makeExt4(f *os.File, dev string) error {
	return errors.New("this init was built without disk support (build tag turbo_disk); the builder adds it for recipes with a disk output")
}
