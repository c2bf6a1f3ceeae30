package data

import (
	"fmt"
	"strings"
)

// DefaultOrder is the channel order data flows down, highest first: the
// production data set feeds qa, qa feeds acceptance tests (at), at feeds
// developers.
const DefaultOrder = "prod,qa,at,dev"

// DirectionError says why data may not flow from one channel into
// another without --force.
type DirectionError struct {
	From, To string
	Order    []string
	Reason   string
}

func (e *DirectionError) Error() string { return e.Reason }

// CheckDirection decides whether data of channel from may be imported into
// an appliance of channel to, for order (highest first). It returns a
// note when the direction cannot be checked (a channel is not known), and
// a *DirectionError when the data would flow up or a channel is not in
// the order.
func CheckDirection(order []string, from, to string) (note string, err error) {
	if from == "" || to == "" {
		var missing []string
		if from == "" {
			missing = append(missing, "the archive names no channel (export with --channel)")
		}
		if to == "" {
			missing = append(missing, "the target's channel is not given (--channel)")
		}
		return "direction not checked: " + strings.Join(missing, "; "), nil
	}
	idx := func(c string) int {
		for i, o := range order {
			if o == c {
				return i
			}
		}
		return -1
	}
	chain := strings.Join(order, " → ")
	fi, ti := idx(from), idx(to)
	switch {
	case fi < 0 || ti < 0:
		c := from
		if fi >= 0 {
			c = to
		}
		return "", &DirectionError{from, to, order, fmt.Sprintf("channel %q is not in the data order %s, so the direction cannot be told (--channel-order names it; --force imports anyway)", c, chain)}
	case fi > ti:
		return "", &DirectionError{from, to, order, fmt.Sprintf("data from %s would flow up into %s: data flows down %s, so a lower channel's data (test data, a developer's edits) must not replace a higher channel's; --force imports anyway", from, to, chain)}
	}
	return "", nil
}

// ParseOrder reads a comma-separated channel order.
func ParseOrder(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, c := range strings.Split(s, ",") {
		c = strings.TrimSpace(c)
		if !channelRE.MatchString(c) {
			return nil, fmt.Errorf("channel %q in the order is not a channel name (a-z, 0-9, -, starting with a letter)", c)
		}
		if seen[c] {
			return nil, fmt.Errorf("channel %q appears twice in the order", c)
		}
		seen[c] = true
		out = append(out, c)
	}
	return out, nil
}
