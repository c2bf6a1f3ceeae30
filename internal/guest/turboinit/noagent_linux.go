//go:build linux && !turbo_agent

package turboinit

import "errors"

func (in *Init) startAgent() error {
	if in.cfg.Update.Agent != nil && in.cmdline.Slot != "" {
		return errors.New("this init was built without the update agent (build tag turbo_agent); the builder adds it for recipes with update.agent")
	}
	return nil
}
