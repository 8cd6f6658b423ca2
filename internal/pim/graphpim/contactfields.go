package graphpim

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// The contact's fields both ways (§7.2, [G-CT]): the same fields as a
// vCard carries (pim/carddav), so a Graph folder and a CardDAV address
// book sync alike.
//
//	first_name, last_name  givenName, surname (displayName made from them)
//	company, title         companyName, jobTitle
//	emails                 emailAddresses[].address (names kept)
//	phones                 businessPhones[], mobilePhone, homePhones[],
//	                       in that order; a number keeps its slot
//	address                the first of businessAddress, homeAddress,
//	                       otherAddress that is set
//	notes                  personalNotes
//	categories             categories
//
// Everything else Outlook holds (middle name, birthday, photo, other
// addresses, …) is never written: an update patches only the properties
// of the fields that changed.

// gContact is a contact as Graph sends it.
type gContact struct {
	ID             string          `json:"id"`
	ETag           string          `json:"@odata.etag"`
	Removed        json.RawMessage `json:"@removed"`
	LastModified   string          `json:"lastModifiedDateTime"`
	DisplayName    string          `json:"displayName"`
	GivenName      string          `json:"givenName"`
	Surname        string          `json:"surname"`
	EmailAddresses []gEmail        `json:"emailAddresses"`
	BusinessPhones []string        `json:"businessPhones"`
	MobilePhone    string          `json:"mobilePhone"`
	HomePhones     []string        `json:"homePhones"`
	CompanyName    string          `json:"companyName"`
	JobTitle       string          `json:"jobTitle"`
	PersonalNotes  string          `json:"personalNotes"`
	Categories     []string        `json:"categories"`
	Business       *gAddress       `json:"businessAddress"`
	Home           *gAddress       `json:"homeAddress"`
	Other          *gAddress       `json:"otherAddress"`
	Extended       []gExtended     `json:"singleValueExtendedProperties"`
}

type gEmail struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// gAddress is Graph's physicalAddress.
type gAddress struct {
	Street          string `json:"street"`
	City            string `json:"city"`
	State           string `json:"state"`
	PostalCode      string `json:"postalCode"`
	CountryOrRegion string `json:"countryOrRegion"`
}

type gExtended struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

func (a *gAddress) postal() crm.PostalAddress {
	if a == nil {
		return crm.PostalAddress{}
	}
	return crm.PostalAddress{Street: a.Street, City: a.City, Region: a.State, PostalCode: a.PostalCode, Country: a.CountryOrRegion}
}

func toGAddress(p crm.PostalAddress) *gAddress {
	return &gAddress{Street: p.Street, City: p.City, State: p.Region, PostalCode: p.PostalCode, CountryOrRegion: p.Country}
}

// addressSlots are the address properties in the order the "address"
// field reads them.
var addressSlots = []string{"businessAddress", "homeAddress", "otherAddress"}

func (c *gContact) addresses() []*gAddress { return []*gAddress{c.Business, c.Home, c.Other} }

// addressSlot is the index of the address the field reads, -1 for none.
func (c *gContact) addressSlot() int {
	for i, a := range c.addresses() {
		if !a.postal().IsZero() {
			return i
		}
	}
	return -1
}

// phone slots, in the order the "phones" field lists them.
const (
	slotBusiness = iota
	slotMobile
	slotHome
)

// phones returns the numbers as the "phones" field lists them, with their
// slots.
func (c *gContact) phones() (nums []string, slots []int) {
	add := func(n string, slot int) {
		if strings.TrimSpace(n) != "" {
			nums, slots = append(nums, n), append(slots, slot)
		}
	}
	for _, n := range c.BusinessPhones {
		add(n, slotBusiness)
	}
	add(c.MobilePhone, slotMobile)
	for _, n := range c.HomePhones {
		add(n, slotHome)
	}
	return nums, slots
}

// fields maps c to normalized Fields.
func (c *gContact) fields() pim.Fields {
	var emails []string
	for _, e := range c.EmailAddresses {
		emails = append(emails, e.Address)
	}
	phones, _ := c.phones()
	f := pim.Fields{
		pim.FieldFirstName:  pim.Str(c.GivenName),
		pim.FieldLastName:   pim.Str(c.Surname),
		pim.FieldCompany:    pim.Str(c.CompanyName),
		pim.FieldTitle:      pim.Str(c.JobTitle),
		pim.FieldEmails:     pim.ListOf(emails...),
		pim.FieldPhones:     pim.ListOf(phones...),
		pim.FieldNotes:      pim.Str(c.PersonalNotes),
		pim.FieldCategories: pim.SetOf(c.Categories...),
	}
	if i := c.addressSlot(); i >= 0 {
		f[pim.FieldAddress] = pim.Str(c.addresses()[i].postal().String())
	}
	return f.Normalize()
}

// modified is lastModifiedDateTime, zero when absent or unreadable.
func (c *gContact) modified() time.Time {
	t, err := time.Parse(time.RFC3339, c.LastModified)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// mappedFields are the fields a Graph contact carries; others are ignored.
var mappedFields = []string{
	pim.FieldFirstName, pim.FieldLastName, pim.FieldCompany, pim.FieldTitle, pim.FieldEmails,
	pim.FieldPhones, pim.FieldAddress, pim.FieldNotes, pim.FieldCategories,
}

// patch returns the Graph properties that make prev (nil for a new
// contact) hold f, touching only those of the fields that differ.
func patch(prev *gContact, f pim.Fields) map[string]any {
	if prev == nil {
		prev = &gContact{}
	}
	want := pim.Fields{}
	for _, name := range mappedFields {
		want[name] = pim.Normalize(name, f[name])
	}
	have := prev.fields()
	changed := func(name string) bool { return !have[name].Equal(want[name]) }
	out := map[string]any{}
	names := changed(pim.FieldFirstName) || changed(pim.FieldLastName) || prev.ID == ""
	if names {
		out["givenName"] = want[pim.FieldFirstName].Str
		out["surname"] = want[pim.FieldLastName].Str
	}
	// A contact without a name shows its company, address or number: kept
	// up to date when they change.
	nameless := want[pim.FieldFirstName].IsZero() && want[pim.FieldLastName].IsZero() &&
		(changed(pim.FieldCompany) || changed(pim.FieldEmails) || changed(pim.FieldPhones))
	if n := pim.DisplayName(want); n != "" && n != prev.DisplayName && (names || nameless) {
		out["displayName"] = n
	}
	if changed(pim.FieldCompany) {
		out["companyName"] = want[pim.FieldCompany].Str
	}
	if changed(pim.FieldTitle) {
		out["jobTitle"] = want[pim.FieldTitle].Str
	}
	if changed(pim.FieldNotes) {
		out["personalNotes"] = want[pim.FieldNotes].Str
	}
	if changed(pim.FieldCategories) {
		out["categories"] = nonNil(want[pim.FieldCategories].List)
	}
	if changed(pim.FieldEmails) {
		out["emailAddresses"] = emailsFor(prev, want[pim.FieldEmails].List)
	}
	if changed(pim.FieldPhones) {
		business, mobile, home := phonesFor(prev, want[pim.FieldPhones].List)
		if !slices.Equal(business, prev.BusinessPhones) {
			out["businessPhones"] = business
		}
		if mobile != prev.MobilePhone {
			out["mobilePhone"] = mobile
		}
		if !slices.Equal(home, prev.HomePhones) {
			out["homePhones"] = home
		}
	}
	if changed(pim.FieldAddress) {
		a := crm.ParsePostalAddress(want[pim.FieldAddress].Str)
		slot := max(prev.addressSlot(), 0)
		if a.IsZero() {
			// Cleared: every address goes, as the field reads the
			// first one set (a vCard's ADRs go the same way).
			for i, p := range prev.addresses() {
				if !p.postal().IsZero() {
					out[addressSlots[i]] = toGAddress(a)
				}
			}
		} else {
			out[addressSlots[slot]] = toGAddress(a)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// emailsFor lists want as emailAddresses, keeping the name and spelling
// of an address prev has.
func emailsFor(prev *gContact, want []string) []gEmail {
	out := []gEmail{}
	for _, w := range want {
		e := gEmail{Address: w, Name: w}
		for _, p := range prev.EmailAddresses {
			if pim.NormalizeEmail(p.Address) == w {
				e = p
				break
			}
		}
		out = append(out, e)
	}
	return out
}

// phonesFor places the numbers of want (normalized, in order) in Graph's
// slots so that they read back in the same order: a number prev has
// keeps its slot (and its spelling) when the order allows; a new one goes
// in the slot of the number before it (business first), the mobile slot
// holding one number.
func phonesFor(prev *gContact, want []string) (business []string, mobile string, home []string) {
	nums, slots := prev.phones()
	had := map[string]int{}
	spelt := map[string]string{}
	for i, n := range nums {
		k := pim.NormalizePhone(n)
		if _, ok := had[k]; !ok {
			had[k], spelt[k] = slots[i], n
		}
	}
	business, home = []string{}, []string{}
	cur := slotBusiness
	for _, w := range want {
		text := w
		if s, ok := spelt[w]; ok {
			text = s
		}
		slot, ok := had[w]
		if !ok || slot < cur || slot == slotMobile && mobile != "" {
			slot = cur
		}
		if slot == slotMobile && mobile != "" {
			slot = slotHome
		}
		switch slot {
		case slotBusiness:
			business = append(business, text)
		case slotMobile:
			mobile = text
		default:
			home = append(home, text)
		}
		cur = slot
	}
	return business, mobile, home
}
