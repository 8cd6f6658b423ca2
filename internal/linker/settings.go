package linker

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
)

// MaxRuleDomains caps each list of an organisation's linking settings;
// a region's free-mail providers can be many more than a company's
// domains.
const MaxRuleDomains = 1000

// RuleDomains normalises a list of an organisation's linking settings
// (its own domains, its extra free-mail providers) as an admin gave it,
// dropping duplicates. A bad item is a *crm.FieldError naming it
// ("own_domains[2]"). The REST API and the web app's settings page both
// check the lists through it.
func RuleDomains(field string, items []string) ([]string, error) {
	if len(items) > MaxRuleDomains {
		return nil, &crm.FieldError{Field: field, Code: crm.CodeInvalid, Message: fmt.Sprintf("%s may hold at most %d domains.", field, MaxRuleDomains)}
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		d, err := crm.NormalizeDomain(it)
		if err != nil {
			f := fmt.Sprintf("%s[%d]", field, i)
			return nil, &crm.FieldError{Field: f, Code: crm.CodeInvalid, Message: fmt.Sprintf("%s (%q) %s.", f, it, strings.TrimSuffix(err.Error(), "."))}
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out, nil
}
