package pim

import (
	"reflect"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
)

func TestFixedCategories(t *testing.T) {
	t.Parallel()
	want := []string{"Base Person", "Base Company", "Base Current Prospect", "Base Lost Prospect", "Base Current Customer", "Base Past Customer", "Base Lead"}
	if !reflect.DeepEqual(FixedCategories, want) {
		t.Fatalf("FixedCategories = %q", FixedCategories)
	}
	for _, tc := range []struct {
		name string
		want bool
	}{
		{"Base Lead", true}, {"base lead", true}, {" Base  Lead ", true}, {"BASE COMPANY", true},
		{"Base Leads", false}, {"Lead", false}, {"", false}, {"VIP", false},
	} {
		if got := IsFixed(tc.name); got != tc.want {
			t.Errorf("IsFixed(%q) = %v", tc.name, got)
		}
	}
}

func TestCategoriesFor(t *testing.T) {
	t.Parallel()
	const (
		open = crm.StatusOpen
		won  = crm.StatusWon
		lost = crm.StatusLost
	)
	for _, tc := range []struct {
		name      string
		lifecycle crm.Lifecycle
		company   bool
		outcomes  []crm.OpportunityStatus
		want      []string
	}{
		{"person_no_lifecycle", "", false, nil, []string{CategoryPerson}},
		{"company_no_opportunity", "", true, nil, []string{CategoryCompany}},
		{"lead", crm.LifecycleLead, false, nil, []string{CategoryPerson, CategoryLead}},
		{"prospect", crm.LifecycleProspect, false, nil, []string{CategoryPerson, CategoryCurrentProspect}},
		{"customer", crm.LifecycleCustomer, false, nil, []string{CategoryPerson, CategoryCurrentCustomer}},
		{"past_customer", crm.LifecyclePastCustomer, false, nil, []string{CategoryPerson, CategoryPastCustomer}},
		{"lost", crm.LifecycleLost, false, nil, []string{CategoryPerson, CategoryLostProspect}},
		{"unknown_lifecycle", "vip", false, nil, []string{CategoryPerson}},

		// Opportunity outcomes refine the lifecycle.
		{"lead_with_open_opportunity", crm.LifecycleLead, false, []crm.OpportunityStatus{open}, []string{CategoryPerson, CategoryCurrentProspect}},
		{"lead_with_lost_opportunity", crm.LifecycleLead, false, []crm.OpportunityStatus{lost}, []string{CategoryPerson, CategoryLostProspect}},
		{"prospect_all_lost", crm.LifecycleProspect, false, []crm.OpportunityStatus{lost, lost}, []string{CategoryPerson, CategoryLostProspect}},
		{"prospect_lost_and_open", crm.LifecycleProspect, false, []crm.OpportunityStatus{lost, open}, []string{CategoryPerson, CategoryCurrentProspect}},
		{"prospect_won", crm.LifecycleProspect, false, []crm.OpportunityStatus{open, won}, []string{CategoryPerson, CategoryCurrentCustomer}},
		{"lost_reopened", crm.LifecycleLost, false, []crm.OpportunityStatus{lost, open}, []string{CategoryPerson, CategoryCurrentProspect}},
		{"customer_with_lost_opportunity", crm.LifecycleCustomer, false, []crm.OpportunityStatus{lost}, []string{CategoryPerson, CategoryCurrentCustomer}},
		{"past_customer_outranks_won", crm.LifecyclePastCustomer, false, []crm.OpportunityStatus{won, open}, []string{CategoryPerson, CategoryPastCustomer}},
		{"company_open", "", true, []crm.OpportunityStatus{open}, []string{CategoryCompany, CategoryCurrentProspect}},
		{"company_won", "", true, []crm.OpportunityStatus{lost, won}, []string{CategoryCompany, CategoryCurrentCustomer}},
		{"company_lost", "", true, []crm.OpportunityStatus{lost}, []string{CategoryCompany, CategoryLostProspect}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := CategoriesFor(tc.lifecycle, tc.company, tc.outcomes...)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("CategoriesFor = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRestoreFixed(t *testing.T) {
	t.Parallel()
	want := []string{CategoryPerson, CategoryCurrentCustomer}
	for _, tc := range []struct {
		name        string
		remote      []string
		want        []string
		wantResult  []string
		wantChanged bool
	}{
		{"in_place", []string{"Base Current Customer", "VIP", "Base Person"}, want,
			[]string{"Base Current Customer", "Base Person", "VIP"}, false},
		{"removed", []string{"VIP"}, want,
			[]string{"Base Current Customer", "Base Person", "VIP"}, true},
		{"renamed_in_case", []string{"base person", "Base Current Customer"}, want,
			[]string{"Base Current Customer", "Base Person"}, true},
		{"renamed_otherwise_kept_as_user_category", []string{"People", "Base Current Customer"}, want,
			[]string{"Base Current Customer", "Base Person", "People"}, true},
		{"stale_status_removed", []string{"Base Person", "Base Lead", "Golf"}, want,
			[]string{"Base Current Customer", "Base Person", "Golf"}, true},
		{"new_item", nil, want, []string{"Base Current Customer", "Base Person"}, true},
		{"spacing_only_is_no_change", []string{" Base Person", "Base Current Customer ", "VIP"}, want,
			[]string{"Base Current Customer", "Base Person", "VIP"}, false},
		{"nothing_wanted", []string{"Base Person", "VIP"}, nil, []string{"VIP"}, true},
		{"nothing_at_all", nil, nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := RestoreFixed(tc.remote, tc.want)
			if !reflect.DeepEqual(got, tc.wantResult) || changed != tc.wantChanged {
				t.Errorf("RestoreFixed(%q, %q) = %q, %v; want %q, %v", tc.remote, tc.want, got, changed, tc.wantResult, tc.wantChanged)
			}
		})
	}
}

func TestImportFilter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		categories []string
		imports    []string
		want       bool
	}{
		{"empty_list_imports_all", []string{"Private"}, nil, true},
		{"empty_list_imports_uncategorised", nil, nil, true},
		{"empty_list_imports_fixed_only", []string{"Base Person"}, []string{}, true},
		{"selected", []string{"Private", "Clients"}, []string{"Clients"}, true},
		{"selected_ignoring_case_and_spacing", []string{" clients "}, []string{"Clients"}, true},
		{"not_selected", []string{"Private"}, []string{"Clients"}, false},
		{"uncategorised_not_selected", nil, []string{"Clients"}, false},
		{"fixed_does_not_count_on_item", []string{"Base Person", "Base Lead"}, []string{"Clients"}, false},
		{"fixed_does_not_count_in_list", []string{"Base Person"}, []string{"Base Person"}, false},
		{"fixed_in_list_with_user_category", []string{"Clients", "Base Person"}, []string{"Base Person", "Clients"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ImportFilter(tc.categories, tc.imports); got != tc.want {
				t.Errorf("ImportFilter(%q, %q) = %v", tc.categories, tc.imports, got)
			}
		})
	}
}

func TestImportedCategories(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		categories []string
		imports    []string
		want       []string
	}{
		{"all_but_fixed", []string{"VIP", "Base Person", "Golf", "base lead"}, nil, []string{"Golf", "VIP"}},
		{"selected_only", []string{"VIP", "Private", "Base Person"}, []string{"vip", "Clients"}, []string{"VIP"}},
		{"none", []string{"Private"}, []string{"Clients"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ImportedCategories(tc.categories, tc.imports); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ImportedCategories = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRemoteCategories(t *testing.T) {
	t.Parallel()
	want := CategoriesFor(crm.LifecycleCustomer, false)
	for _, tc := range []struct {
		name        string
		remote      []string
		merged      []string
		imports     []string
		wantResult  []string
		wantChanged bool
	}{
		{"unchanged", []string{"Base Person", "Base Current Customer", "VIP"}, []string{"VIP"}, nil,
			[]string{"Base Current Customer", "Base Person", "VIP"}, false},
		{"crm_added_and_removed", []string{"Base Person", "Base Current Customer", "VIP"}, []string{"Golf"}, nil,
			[]string{"Base Current Customer", "Base Person", "Golf"}, true},
		{"not_imported_kept", []string{"Private", "Clients", "Base Person", "Base Current Customer"}, nil, []string{"Clients"},
			[]string{"Base Current Customer", "Base Person", "Private"}, true},
		{"not_imported_kept_unchanged", []string{"Private", "Clients", "Base Person", "Base Current Customer"}, []string{"Clients"}, []string{"Clients"},
			[]string{"Base Current Customer", "Base Person", "Clients", "Private"}, false},
		{"fixed_restored", []string{"Private", "Clients"}, []string{"Clients"}, []string{"Clients"},
			[]string{"Base Current Customer", "Base Person", "Clients", "Private"}, true},
		{"fixed_in_merged_ignored", []string{"Base Person", "Base Current Customer"}, []string{"Base Lead"}, nil,
			[]string{"Base Current Customer", "Base Person"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := RemoteCategories(tc.remote, tc.merged, want, tc.imports)
			if !reflect.DeepEqual(got, tc.wantResult) || changed != tc.wantChanged {
				t.Errorf("RemoteCategories = %q, %v; want %q, %v", got, changed, tc.wantResult, tc.wantChanged)
			}
		})
	}
}

// The categories round trip through a merge: what the user did not import
// neither reaches the CRM nor disappears from the remote.
func TestCategoriesThroughMerge(t *testing.T) {
	t.Parallel()
	imports := []string{"Clients", "VIP"}
	fixed := CategoriesFor(crm.LifecycleCustomer, false)
	remoteCats := []string{"Base Person", "Base Current Customer", "Clients", "Private"}
	base := Fields{FieldCategories: SetOf("Clients")}
	crmRec := Fields{FieldCategories: SetOf("Clients", "VIP")} // the CRM user added VIP
	remote := Fields{FieldCategories: SetOf(ImportedCategories(remoteCats, imports)...)}
	res := Merge(base, crmRec, remote, t0, t1, NewestWins)
	if got := res.CRM[FieldCategories].List; !reflect.DeepEqual(got, []string{"Clients", "VIP"}) {
		t.Errorf("CRM categories = %q", got)
	}
	if len(res.ToCRM) != 0 {
		t.Errorf("ToCRM = %+v: Private must stay out of the CRM", res.ToCRM)
	}
	got, changed := RemoteCategories(remoteCats, res.Remote[FieldCategories].List, fixed, imports)
	if want := []string{"Base Current Customer", "Base Person", "Clients", "Private", "VIP"}; !reflect.DeepEqual(got, want) || !changed {
		t.Errorf("remote categories = %q, %v; want %q", got, changed, want)
	}
}
