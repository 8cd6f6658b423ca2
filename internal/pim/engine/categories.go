package engine

import (
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/pim"
)

// unrenamed returns the remote's categories without those a user made by
// renaming fixed ones: when, since the base, fixed categories vanished
// from the item and as many new categories appeared, each resembling one
// of them (a word in common, by its first four letters: "Leads" for "Base
// Lead", "Customers" for "Base Current Customer"), the new ones are the
// fixed ones renamed. Restoring a renamed category means renaming it back:
// the new name is neither imported nor kept. A new category that
// resembles none ("VIP") is the user's own, whatever else changed: it is
// kept, and the fixed one is added back beside it.
func unrenamed(base pimBase, remote []string) []string {
	if len(base.RemoteCats) == 0 {
		return remote
	}
	had := setOfNorm(base.RemoteCats)
	has := setOfNorm(remote)
	var gone []string
	for _, c := range base.RemoteCats {
		if pim.IsFixed(c) && !has[normCat(c)] {
			gone = append(gone, c)
		}
	}
	var added []string
	for _, c := range remote {
		if !pim.IsFixed(c) && !had[normCat(c)] {
			added = append(added, c)
		}
	}
	if len(gone) == 0 || len(added) != len(gone) {
		return remote
	}
	for _, a := range added {
		if !slices.ContainsFunc(gone, func(g string) bool { return resembles(a, g) }) {
			return remote
		}
	}
	return slices.DeleteFunc(slices.Clone(remote), func(c string) bool { return slices.Contains(added, c) })
}

// resembles reports whether two category names share a word, compared by
// its first four letters ("Base" aside: it names every fixed category).
func resembles(a, b string) bool {
	stems := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, w := range strings.Fields(strings.ToLower(s)) {
			if w == "base" {
				continue
			}
			if len(w) > 4 {
				w = w[:4]
			}
			m[w] = true
		}
		return m
	}
	sb := stems(b)
	for w := range stems(a) {
		if sb[w] {
			return true
		}
	}
	return false
}

func normCat(c string) string { return strings.ToLower(strings.Join(strings.Fields(c), " ")) }

func setOfNorm(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, c := range l {
		m[normCat(c)] = true
	}
	return m
}
