package kernel

import "github.com/turbo-image/turbo-image/internal/format/kconfig"

// Fragment is a Kconfig configuration fragment: a piece of .config text that
// is applied on top of the base configuration.
type Fragment struct {
	// Name identifies the fragment in messages, e.g.
	// "recipes/kernel/virt.config" or "builtin:virt".
	Name string
	// Data is the fragment text in .config syntax.
	Data []byte
}

// mergeFragments parses every fragment (kconfig.ParseFragment) and merges
// them, later assignments winning (kconfig.Merge).
func mergeFragments(frags []Fragment) ([]kconfig.Option, error) {
	lists := make([][]kconfig.Option, 0, len(frags))
	for _, f := range frags {
		opts, err := kconfig.ParseFragment(f.Name, f.Data)
		if err != nil {
			return nil, err
		}
		lists = append(lists, opts)
	}
	return kconfig.Merge(lists...), nil
}
