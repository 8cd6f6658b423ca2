package engine

import (
	"sort"
	"strings"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// CategoryCount is a category the items of a server carry, and how many.
type CategoryCount struct {
	Name  string
	Items int
}

// ServerCategories counts the categories of the server's items as the last
// pass saw them, from the mappings alone (each base keeps every category
// its item carried, imported or not), so that the user can choose what to
// import without crmsync asking the server. Items deleted on the server,
// or not written to it yet, do not count. Names are compared as Exchange
// does, without case or extra spaces; a fixed category is named as the CRM
// writes it, another as the first item met spells it. The result is sorted
// by name.
func ServerCategories(items []store.PIMItem) []CategoryCount {
	counts := map[string]*CategoryCount{}
	for _, it := range items {
		if it.Href == "" || it.TombstoneSide == "remote" {
			continue
		}
		seen := map[string]bool{} // an item counts once per category
		for _, c := range decodeBase(it.Base).RemoteCats {
			name := strings.Join(strings.Fields(c), " ")
			key := strings.ToLower(name)
			if key == "" || seen[key] {
				continue
			}
			seen[key] = true
			if counts[key] == nil {
				counts[key] = &CategoryCount{Name: fixedSpelling(name)}
			}
			counts[key].Items++
		}
	}
	out := make([]CategoryCount, 0, len(counts))
	for _, c := range counts {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out
}

// fixedSpelling returns the fixed category's own name for name when it is
// one, else name.
func fixedSpelling(name string) string {
	for _, f := range pim.FixedCategories {
		if strings.EqualFold(f, name) {
			return f
		}
	}
	return name
}
