package googlepim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// ContactsID is the href of the one contacts collection a Google account
// has: its contacts ("My Contacts" and every other group).
const ContactsID = "people/me/connections"

// personFields is what crmsync reads of a person (§10.1); updateFields
// what it writes (§10.2).
const (
	personFields = "names,emailAddresses,phoneNumbers,organizations,biographies,addresses,memberships,clientData,metadata"
	updateFields = "names,emailAddresses,phoneNumbers,organizations,biographies,addresses,memberships,clientData"
	// stampKey is the clientData key of the CRM stamp (pim.StampUID).
	stampKey = "crmsyncUid"
	// myContacts is the system group every contact of the account is in;
	// a person must keep one membership (§10.2).
	myContacts = "contactGroups/myContacts"
)

// Contacts is the user's contacts as a pim.Remote and a
// pim.CategoryKeeper: the categories are the user's contact groups, by
// name. Persons read in a listing are kept until fetched, so a first sync
// costs the listing's pages and nothing per person.
type Contacts struct {
	c *cloudapi.Client

	listed listed[json.RawMessage] // persons of the last listing not yet fetched

	stamps stamps

	mu     sync.Mutex
	groups map[string]string // user group resourceName → name; nil: not read yet
}

// NewContacts returns the user's contacts. It sends nothing.
func NewContacts(c *cloudapi.Client) *Contacts {
	return &Contacts{c: c}
}

// person is the part of a Person crmsync reads; the body is kept whole
// (Raw) and patched on writes.
type person struct {
	ResourceName string `json:"resourceName"`
	Etag         string `json:"etag"`
	Metadata     struct {
		Deleted bool `json:"deleted"`
		Sources []struct {
			Type       string `json:"type"`
			UpdateTime string `json:"updateTime"`
		} `json:"sources"`
	} `json:"metadata"`
	Names []struct {
		GivenName  string `json:"givenName"`
		FamilyName string `json:"familyName"`
	} `json:"names"`
	EmailAddresses []struct {
		Value string `json:"value"`
	} `json:"emailAddresses"`
	PhoneNumbers []struct {
		Value string `json:"value"`
	} `json:"phoneNumbers"`
	Organizations []struct {
		Name  string `json:"name"`
		Title string `json:"title"`
	} `json:"organizations"`
	Biographies []struct {
		Value string `json:"value"`
	} `json:"biographies"`
	Addresses []struct {
		StreetAddress string `json:"streetAddress"`
		City          string `json:"city"`
		Region        string `json:"region"`
		PostalCode    string `json:"postalCode"`
		Country       string `json:"country"`
	} `json:"addresses"`
	Memberships []struct {
		ContactGroupMembership *struct {
			ContactGroupResourceName string `json:"contactGroupResourceName"`
		} `json:"contactGroupMembership"`
	} `json:"memberships"`
	ClientData []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"clientData"`
}

func (p *person) stamp() string {
	for _, d := range p.ClientData {
		if d.Key == stampKey {
			return d.Value
		}
	}
	return ""
}

// Changes lists the user's contacts (token "") or what changed since a
// sync token. An expired token is pim.ErrTokenInvalid (Google's
// EXPIRED_SYNC_TOKEN, classified by package google): the engine then lists
// everything and matches it to its mappings.
func (r *Contacts) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	out := pim.RemoteChanges{Full: token == ""}
	if out.Full {
		r.listed.forget("")
	}
	type connPage struct {
		pageEnd
		Connections   []json.RawMessage `json:"connections"`
		NextSyncToken string            `json:"nextSyncToken"`
	}
	at := func(page string) string {
		return "/v1/people/me/connections" + query("personFields", personFields, "pageSize", "1000",
			"requestSyncToken", "true", "syncToken", token, "pageToken", page)
	}
	err := eachPage(ctx, r.c, at, func(ans *connPage) error {
		for _, raw := range ans.Connections {
			var p person
			if json.Unmarshal(raw, &p) != nil || p.ResourceName == "" {
				continue
			}
			if p.Metadata.Deleted {
				out.Deleted = append(out.Deleted, p.ResourceName)
				r.listed.forget(p.ResourceName)
				continue
			}
			out.Items = append(out.Items, pim.RemoteRef{Href: p.ResourceName, ETag: p.Etag})
			r.listed.put(p.ResourceName, raw)
			r.stamps.note(p.stamp(), p.ResourceName)
		}
		out.Token = ans.NextSyncToken
		return nil
	})
	if err != nil {
		return pim.RemoteChanges{}, err
	}
	if out.Token == "" {
		return pim.RemoteChanges{}, protocol(r.c, "Google ended a listing of contacts without saying where the next sync starts; crmsync tries again later.")
	}
	return out, nil
}

// Fetch returns persons from the last listing, reading only those it did
// not hold (or held no longer) one by one.
func (r *Contacts) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	if _, err := r.loadGroups(ctx, false); err != nil {
		return nil, nil, nil, err
	}
	return r.listed.fetch(ctx, hrefs, r.read, r.decode)
}

// read gets one person; ok is false when it is no longer there.
func (r *Contacts) read(ctx context.Context, href string) (json.RawMessage, bool, error) {
	if !strings.HasPrefix(href, "people/") {
		return nil, false, nil
	}
	var body json.RawMessage
	err := r.c.GetJSON(ctx, "/v1/"+href+query("personFields", personFields), nil, maxSmall, &body)
	if cloudapi.Status(err) == http.StatusNotFound {
		return nil, false, nil
	}
	return body, err == nil, err
}

func (r *Contacts) decode(raw json.RawMessage) (pim.RemoteItem, error) {
	var p person
	if err := json.Unmarshal(raw, &p); err != nil {
		return pim.RemoteItem{}, fmt.Errorf("a contact Google sent cannot be read: %v", err)
	}
	f := pim.Fields{}
	if len(p.Names) > 0 {
		f[pim.FieldFirstName] = pim.Str(p.Names[0].GivenName)
		f[pim.FieldLastName] = pim.Str(p.Names[0].FamilyName)
	}
	if len(p.Organizations) > 0 {
		f[pim.FieldCompany] = pim.Str(p.Organizations[0].Name)
		f[pim.FieldTitle] = pim.Str(p.Organizations[0].Title)
	}
	var l []string
	for _, e := range p.EmailAddresses {
		l = append(l, e.Value)
	}
	f[pim.FieldEmails] = pim.ListOf(l...)
	l = nil
	for _, e := range p.PhoneNumbers {
		l = append(l, e.Value)
	}
	f[pim.FieldPhones] = pim.ListOf(l...)
	if len(p.Biographies) > 0 {
		f[pim.FieldNotes] = pim.Str(p.Biographies[0].Value)
	}
	if len(p.Addresses) > 0 {
		a := p.Addresses[0]
		f[pim.FieldAddress] = pim.Str(crm.PostalAddress{Street: a.StreetAddress, City: a.City, Region: a.Region,
			PostalCode: a.PostalCode, Country: a.Country}.String())
	}
	r.mu.Lock()
	l = nil
	for _, m := range p.Memberships {
		if m.ContactGroupMembership != nil {
			if name, ok := r.groups[m.ContactGroupMembership.ContactGroupResourceName]; ok {
				l = append(l, name)
			}
		}
	}
	r.mu.Unlock()
	f[pim.FieldCategories] = pim.SetOf(l...)
	it := pim.RemoteItem{Href: p.ResourceName, ETag: p.Etag, UID: p.stamp(), Type: pim.RecordContact, Fields: f.Normalize(), Raw: raw}
	for _, s := range p.Metadata.Sources {
		if s.Type == "CONTACT" {
			it.Modified, _ = time.Parse(time.RFC3339Nano, s.UpdateTime)
		}
	}
	return it, nil
}

// Create writes a new person stamped with uid in its clientData. A person
// with that stamp seen in a listing is ErrExists with its href: a create
// retried after its answer was lost links the first one. The request is
// sent once (see once): People has no idempotency key.
func (r *Contacts) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	if it, err := r.stamps.exists(uid); err != nil {
		return it, err
	}
	body, err := r.encode(ctx, nil, uid, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	var raw json.RawMessage
	err = call(ctx, once(r.c), http.MethodPost, "/v1/people:createContact"+query("personFields", personFields), nil, body, &raw)
	if err != nil {
		return pim.RemoteItem{}, refused(err)
	}
	it, err := r.decode(raw)
	if err == nil {
		r.stamps.note(uid, it.Href)
	}
	return it, err
}

// Update patches prev's person with f, with prev's etag: a person changed
// meanwhile is refused by Google (failedPrecondition, §10.2) and is
// pim.ErrPrecondition; the engine refetches and merges.
func (r *Contacts) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	body, err := r.encode(ctx, prev.Raw, prev.UID, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	body["etag"] = prev.ETag
	var raw json.RawMessage
	err = call(ctx, r.c, http.MethodPatch, "/v1/"+prev.Href+":updateContact"+query("updatePersonFields", updateFields, "personFields", personFields), nil, body, &raw)
	switch {
	case err != nil && (reason(err) == "failedPrecondition" || reason(err) == "FAILED_PRECONDITION"):
		r.listed.forget(prev.Href)
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrPrecondition, err)
	case cloudapi.Status(err) == http.StatusNotFound:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrGone, err)
	case err != nil:
		return pim.RemoteItem{}, refused(err)
	}
	return r.decode(raw)
}

// encode patches prev (a person as Google sent it; nil for a new one)
// with f: the elements of a list that stay keep what crmsync does not map
// (an address's type, a name's middle name), the groups that are not
// categories (My Contacts, Starred) are kept, and a category without a
// group gets one.
func (r *Contacts) encode(ctx context.Context, prev []byte, uid string, f pim.Fields) (map[string]any, error) {
	var cur map[string]any
	if prev != nil {
		if err := json.Unmarshal(prev, &cur); err != nil {
			return nil, fmt.Errorf("%w: %v", pim.ErrRefused, err)
		}
	}
	f = f.Normalize()
	first := func(k string) map[string]any {
		if l, ok := cur[k].([]any); ok && len(l) > 0 {
			if m, ok := l[0].(map[string]any); ok {
				return m
			}
		}
		return map[string]any{}
	}
	out := map[string]any{}
	set := func(m map[string]any, k, v string) {
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	one := func(k string, m map[string]any, keys ...string) {
		for _, x := range keys {
			if _, ok := m[x]; ok {
				out[k] = []any{m}
				return
			}
		}
		out[k] = []any{}
	}
	n := first("names")
	delete(n, "displayName")
	delete(n, "unstructuredName")
	delete(n, "displayNameLastFirst")
	set(n, "givenName", f[pim.FieldFirstName].Str)
	set(n, "familyName", f[pim.FieldLastName].Str)
	one("names", n, "givenName", "familyName", "middleName", "honorificPrefix", "honorificSuffix")
	o := first("organizations")
	set(o, "name", f[pim.FieldCompany].Str)
	set(o, "title", f[pim.FieldTitle].Str)
	one("organizations", o, "name", "title", "department")
	b := first("biographies")
	set(b, "value", f[pim.FieldNotes].Str)
	if f[pim.FieldNotes].Str != "" {
		b["contentType"] = "TEXT_PLAIN"
	}
	one("biographies", b, "value")
	a := first("addresses")
	for _, k := range []string{"formattedValue", "streetAddress", "city", "region", "postalCode", "country"} {
		delete(a, k)
	}
	if s := f[pim.FieldAddress].Str; s != "" {
		pa := crm.ParsePostalAddress(s)
		set(a, "streetAddress", pa.Street)
		set(a, "city", pa.City)
		set(a, "region", pa.Region)
		set(a, "postalCode", pa.PostalCode)
		set(a, "country", pa.Country)
	}
	one("addresses", a, "streetAddress", "city", "region", "postalCode", "country")
	out["emailAddresses"] = patchValues(cur["emailAddresses"], f[pim.FieldEmails].List, pim.NormalizeEmail)
	out["phoneNumbers"] = patchValues(cur["phoneNumbers"], f[pim.FieldPhones].List, pim.NormalizePhone)

	// clientData: the stamp, and whatever other apps keep there.
	data := []any{}
	if l, ok := cur["clientData"].([]any); ok {
		for _, d := range l {
			if m, ok := d.(map[string]any); ok && m["key"] != stampKey {
				data = append(data, m)
			}
		}
	}
	if uid != "" {
		data = append(data, map[string]any{"key": stampKey, "value": uid})
	}
	out["clientData"] = data

	ms, err := r.memberships(ctx, cur["memberships"], f[pim.FieldCategories].List)
	if err != nil {
		return nil, err
	}
	out["memberships"] = ms
	return out, nil
}

// patchValues makes a list of {"value": …} elements hold want in order,
// keeping the other keys (type, metadata) of the elements that stay.
func patchValues(cur any, want []string, norm func(string) string) []any {
	old := map[string]map[string]any{}
	if l, ok := cur.([]any); ok {
		for _, e := range l {
			if m, ok := e.(map[string]any); ok {
				if v, ok := m["value"].(string); ok {
					if k := norm(v); old[k] == nil {
						old[k] = m
					}
				}
			}
		}
	}
	out := []any{}
	for _, v := range want {
		m := old[norm(v)]
		if m == nil {
			m = map[string]any{}
		}
		delete(m, "metadata")
		delete(m, "canonicalForm")
		m["value"] = v
		out = append(out, m)
	}
	return out
}

// memberships returns a person's memberships for categories: those of
// groups that are not the user's (My Contacts, Starred…) as they are (My
// Contacts for a new one), one per category, creating a missing group.
func (r *Contacts) memberships(ctx context.Context, cur any, cats []string) ([]any, error) {
	if _, err := r.loadGroups(ctx, false); err != nil {
		return nil, err
	}
	out := []any{}
	if cur == nil {
		// A new contact is one of the user's contacts, as one made in
		// Google Contacts is.
		out = append(out, map[string]any{"contactGroupMembership": map[string]any{"contactGroupResourceName": myContacts}})
	}
	if l, ok := cur.([]any); ok {
		for _, e := range l {
			m, _ := e.(map[string]any)
			g, _ := m["contactGroupMembership"].(map[string]any)
			rn, _ := g["contactGroupResourceName"].(string)
			r.mu.Lock()
			_, user := r.groups[rn]
			r.mu.Unlock()
			if g != nil && !user {
				out = append(out, map[string]any{"contactGroupMembership": map[string]any{"contactGroupResourceName": rn}})
			}
		}
	}
	for _, c := range cats {
		rn, err := r.group(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, map[string]any{"contactGroupMembership": map[string]any{"contactGroupResourceName": rn}})
	}
	if len(out) == 0 {
		out = append(out, map[string]any{"contactGroupMembership": map[string]any{"contactGroupResourceName": myContacts}})
	}
	return out, nil
}

// groupKey is the clientData key a group crmsync keeps for a fixed
// category carries, with the category as its value: a user who renames
// the group is undone by renaming it back, members and all.
const groupKey = "crmsyncCategory"

// userGroup is a contact group as crmsync reads it.
type userGroup struct {
	ResourceName string `json:"resourceName"`
	Name         string `json:"name"`
	GroupType    string `json:"groupType"`
	Metadata     struct {
		Deleted bool `json:"deleted"`
	} `json:"metadata"`
	ClientData []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"clientData"`
}

func (g userGroup) keeps() string {
	for _, d := range g.ClientData {
		if d.Key == groupKey {
			return d.Value
		}
	}
	return ""
}

// loadGroups reads the user's contact groups (once, or again with force),
// and returns them.
func (r *Contacts) loadGroups(ctx context.Context, force bool) ([]userGroup, error) {
	r.mu.Lock()
	have := r.groups != nil
	r.mu.Unlock()
	if have && !force {
		return nil, nil
	}
	var all []userGroup
	groups := map[string]string{}
	type groupPage struct {
		pageEnd
		ContactGroups []userGroup `json:"contactGroups"`
	}
	at := func(page string) string {
		return "/v1/contactGroups" + query("pageSize", "1000", "groupFields", "name,groupType,metadata,clientData", "pageToken", page)
	}
	err := eachPage(ctx, r.c, at, func(ans *groupPage) error {
		for _, g := range ans.ContactGroups {
			if g.GroupType == "USER_CONTACT_GROUP" && !g.Metadata.Deleted {
				groups[g.ResourceName] = g.Name
				all = append(all, g)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.groups = groups
	r.mu.Unlock()
	return all, nil
}

func (r *Contacts) findGroup(name string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for rn, n := range r.groups {
		if n == name {
			return rn, true
		}
	}
	return "", false
}

// group returns the resource name of the user's group called name,
// creating it when there is none (stamped when it is a fixed category).
// Names are compared as Google does (exactly); a group created meanwhile
// by another client (409) is read.
func (r *Contacts) group(ctx context.Context, name string) (string, error) {
	if rn, ok := r.findGroup(name); ok {
		return rn, nil
	}
	g := map[string]any{"name": name}
	if pim.IsFixed(name) {
		g["clientData"] = []map[string]string{{"key": groupKey, "value": name}}
	}
	var ans userGroup
	err := call(ctx, r.c, http.MethodPost, "/v1/contactGroups", nil, map[string]any{"contactGroup": g}, &ans)
	if cloudapi.Status(err) == http.StatusConflict {
		if _, err := r.loadGroups(ctx, true); err != nil {
			return "", err
		}
		if rn, ok := r.findGroup(name); ok {
			return rn, nil
		}
	}
	if err != nil {
		return "", err
	}
	if ans.ResourceName == "" {
		return "", protocol(r.c, "Google created a contact group without saying where.")
	}
	r.mu.Lock()
	r.groups[ans.ResourceName] = name
	r.mu.Unlock()
	return ans.ResourceName, nil
}

// KeepCategories makes a contact group exist for each fixed category. A
// group crmsync made for one (stamped in its clientData) that the user
// renamed gets its name back, with its members; a deleted one is created
// again, and the engine puts each record back in it as it writes the
// record's categories (the deletion changed every member). Groups are
// read afresh: the user may have changed them since the last pass.
func (r *Contacts) KeepCategories(ctx context.Context, names []string) error {
	all, err := r.loadGroups(ctx, true)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := r.findGroup(n); ok {
			continue
		}
		renamed := ""
		for _, g := range all {
			if g.keeps() == n {
				renamed = g.ResourceName
			}
		}
		if renamed == "" {
			if _, err := r.group(ctx, n); err != nil {
				return err
			}
			continue
		}
		body := map[string]any{"contactGroup": map[string]any{"name": n,
			"clientData": []map[string]string{{"key": groupKey, "value": n}}}, "updateGroupFields": "name,clientData"}
		if err := call(ctx, r.c, http.MethodPut, "/v1/"+renamed, nil, body, nil); err != nil {
			return err
		}
		r.mu.Lock()
		r.groups[renamed] = n
		r.mu.Unlock()
	}
	return nil
}

var (
	_ pim.Remote         = (*Contacts)(nil)
	_ pim.CategoryKeeper = (*Contacts)(nil)
)
