//go:build linux && !turbo_follow

package turboinit

import "errors"

func (in *Init) startFollow() error {
	if in.cfg.Update.Follow != nil && in.cmdline.Slot != "" {
		return errors.New("this init was built without the registry follower (build tag turbo_follow); the builder adds it for recipes with update.follow")
	}
	return nil
}
