package pim

import (
	"slices"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
)

// The fixed categories: the CRM's status of a record, written to the
// provider as categories (Outlook categories, vCard CATEGORIES, Google
// contact groups) so users can filter by it in their address book. The
// names are those Zendesk Sell's Exchange integration uses, which users of
// such integrations know.
const (
	CategoryPerson          = "Base Person"           // every person (contact)
	CategoryCompany         = "Base Company"          // every company
	CategoryCurrentProspect = "Base Current Prospect" // an open opportunity, or lifecycle prospect
	CategoryLostProspect    = "Base Lost Prospect"    // only lost opportunities, or lifecycle lost
	CategoryCurrentCustomer = "Base Current Customer" // a won opportunity, or lifecycle customer
	CategoryPastCustomer    = "Base Past Customer"    // lifecycle past_customer
	CategoryLead            = "Base Lead"             // lifecycle lead, no opportunity yet
)

// FixedCategories lists the seven fixed categories.
var FixedCategories = []string{
	CategoryPerson, CategoryCompany, CategoryCurrentProspect, CategoryLostProspect,
	CategoryCurrentCustomer, CategoryPastCustomer, CategoryLead,
}

// IsFixed reports whether name is a fixed category, ignoring case and
// spacing ("base  lead" is Base Lead with a typo, to be corrected, not a
// user's own category). Exchange compares category names without case too.
func IsFixed(name string) bool { return fixedName(name) != "" }

// fixedName returns the canonical fixed category for name, or "".
func fixedName(name string) string {
	name = normalizeLine(name)
	for _, f := range FixedCategories {
		if strings.EqualFold(name, f) {
			return f
		}
	}
	return ""
}

// CategoriesFor returns the fixed categories of a CRM record: exactly one
// for what it is, CategoryCompany or CategoryPerson, and at most one for
// where it stands, decided by the first rule that matches:
//
//  1. lifecycle past_customer → Base Past Customer. The user said so; the
//     opportunities of a past customer are history.
//  2. lifecycle customer, or any won opportunity → Base Current Customer.
//  3. any open opportunity → Base Current Prospect.
//  4. lifecycle lost, or any lost opportunity → Base Lost Prospect (Sell:
//     "contacts with unqualified or lost opportunities").
//  5. lifecycle prospect → Base Current Prospect.
//  6. lifecycle lead → Base Lead.
//  7. otherwise (no lifecycle, as for companies, and no opportunity) none.
//
// Opportunity outcomes refine the lifecycle because they are facts about
// deals while the lifecycle is a label someone may not have updated: a lead
// with an open opportunity is being worked as a prospect, a prospect whose
// every opportunity was lost is a lost prospect. outcomes are those of the
// record's opportunities (for a company, its own and its contacts' is the
// engine's choice). The result is in FixedCategories order.
func CategoriesFor(lifecycle crm.Lifecycle, isCompany bool, outcomes ...crm.OpportunityStatus) []string {
	kind := CategoryPerson
	if isCompany {
		kind = CategoryCompany
	}
	has := func(s crm.OpportunityStatus) bool { return slices.Contains(outcomes, s) }
	var status string
	switch {
	case lifecycle == crm.LifecyclePastCustomer:
		status = CategoryPastCustomer
	case lifecycle == crm.LifecycleCustomer || has(crm.StatusWon):
		status = CategoryCurrentCustomer
	case has(crm.StatusOpen):
		status = CategoryCurrentProspect
	case lifecycle == crm.LifecycleLost || has(crm.StatusLost):
		status = CategoryLostProspect
	case lifecycle == crm.LifecycleProspect:
		status = CategoryCurrentProspect
	case lifecycle == crm.LifecycleLead:
		status = CategoryLead
	}
	if status == "" {
		return []string{kind}
	}
	return []string{kind, status} // kinds come first in FixedCategories
}

// RestoreFixed returns the categories a remote item must carry, given those
// it has (remote) and the fixed ones its CRM record calls for (want, from
// CategoriesFor): every user category of remote, kept, and exactly the
// fixed categories of want, under their own names. A fixed category the
// user removed comes back; one renamed in case or spacing ("base lead") is
// put back as written; one the record no longer calls for (the lead became
// a customer) goes. A fixed category renamed to something else entirely
// ("Leads") cannot be told from a user's own: it stays, and the fixed one
// is added back beside it.
//
// The result is a sorted set; changed reports whether it differs from
// remote (normalized, in any order), that is whether the item needs a write.
func RestoreFixed(remote []string, want []string) (fixed []string, changed bool) {
	var out []string
	for _, c := range remote {
		if !IsFixed(c) {
			out = append(out, c)
		}
	}
	for _, w := range want {
		if f := fixedName(w); f != "" {
			w = f
		}
		out = append(out, w)
	}
	fixed = Normalize(FieldCategories, SetOf(out...)).List
	have := Normalize(FieldCategories, SetOf(remote...)).List
	return fixed, !slices.Equal(fixed, have)
}

// ImportFilter reports whether a remote item that the CRM does not know yet
// is imported, given its categories and the account's import_categories:
// always when importCategories is empty, else when one of the item's user
// categories is among them (ignoring case). Fixed categories never count on
// either list: an item is not imported for carrying "Base Person", and
// listing a fixed category in importCategories selects nothing (the API
// should refuse it).
//
// The filter is for new remote items only. An item the engine created, or
// already maps, is synchronised whatever its categories.
func ImportFilter(categories []string, importCategories []string) bool {
	if len(importCategories) == 0 {
		return true
	}
	for _, c := range categories {
		if importedCategory(c, importCategories) {
			return true
		}
	}
	return false
}

// ImportedCategories returns the categories of a remote item that go into
// the CRM record, as a normalized set: its user categories that
// importCategories selects (all of them when it is empty); never a fixed
// one. It is the remote's "categories" field as the merge must see it: the
// engine sets Fields["categories"] of the remote record to it before
// calling Merge, so categories the user did not import neither reach the
// CRM nor look like removals.
func ImportedCategories(categories []string, importCategories []string) []string {
	var out []string
	for _, c := range categories {
		if len(importCategories) == 0 && !IsFixed(c) || importedCategory(c, importCategories) {
			out = append(out, c)
		}
	}
	return Normalize(FieldCategories, SetOf(out...)).List
}

// RemoteCategories returns the categories to write to a remote item after
// a merge: the item's current categories that are not imported (left as
// the user has them), the merged user categories (MergeResult.Remote's
// "categories") and the fixed ones its CRM record calls for (want), with
// RestoreFixed's rules. changed reports whether the item needs a write.
func RemoteCategories(remote, merged, want, importCategories []string) (categories []string, changed bool) {
	imported := setOf(ImportedCategories(remote, importCategories))
	var keep []string
	for _, c := range remote {
		if !imported[normalizeLine(c)] {
			keep = append(keep, c)
		}
	}
	for _, c := range merged {
		if !IsFixed(c) {
			keep = append(keep, c)
		}
	}
	categories, _ = RestoreFixed(keep, want)
	have := Normalize(FieldCategories, SetOf(remote...)).List
	return categories, !slices.Equal(categories, have)
}

// importedCategory reports whether c is a user category listed in
// importCategories.
func importedCategory(c string, importCategories []string) bool {
	c = normalizeLine(c)
	if c == "" || IsFixed(c) {
		return false
	}
	for _, i := range importCategories {
		if strings.EqualFold(c, normalizeLine(i)) {
			return true
		}
	}
	return false
}
