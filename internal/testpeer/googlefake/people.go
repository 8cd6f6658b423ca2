package googlefake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// People API (§10): the user's contacts under v1/people, their contact
// groups under v1/contactGroups. Every change bumps one counter; a person
// or group remembers the value of its last change, a sync token names the
// value it was issued at (and when), and a deleted person stays as a
// tombstone that sync tokens older than its deletion see.

func init() {
	routes = append(routes,
		route{prefix: "v1/people", serve: servePeople},
		route{prefix: "v1/contactGroups", serve: serveGroups})
}

// peopleTokenAge is how long Google keeps a sync token (§10.1: 7 days).
const peopleTokenAge = 7 * 24 * time.Hour

type peopleState struct {
	seq      int
	persons  map[string]*person // by resourceName
	groups   map[string]*group  // by resourceName
	next     int
	tokenAge time.Duration
	forgot   time.Time // tokens issued before this are expired
}

type person struct {
	body    map[string]json.RawMessage // what the client stored, by field
	seq     int
	updated time.Time
	deleted bool
}

type group struct {
	name       string
	clientData json.RawMessage // what the client keeps on the group
	system     bool
	seq        int
	deleted    bool
}

func (a *API) people() *peopleState {
	return area(a, "people", func() *peopleState {
		return &peopleState{persons: map[string]*person{}, tokenAge: peopleTokenAge, groups: map[string]*group{
			"contactGroups/myContacts": {name: "myContacts", system: true},
			"contactGroups/starred":    {name: "starred", system: true},
		}}
	})
}

// SetPeopleTokenAge makes People's sync tokens expire d after they were
// issued (default 7 days, as Google's).
func (a *API) SetPeopleTokenAge(d time.Duration) {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	s.tokenAge = d
}

// ExpirePeopleTokens makes every People sync token issued so far expired.
func (a *API) ExpirePeopleTokens() {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	s.forgot = a.now().Add(time.Nanosecond)
}

func (p *person) etag() string {
	return "%" + base64.RawStdEncoding.EncodeToString([]byte("p"+strconv.Itoa(p.seq)))
}

// render returns the person as the API shows it, restricted to mask (nil:
// every field).
func (p *person) render(name string, mask map[string]bool) map[string]any {
	out := map[string]any{"resourceName": name, "etag": p.etag()}
	if p.deleted {
		out["metadata"] = map[string]any{"deleted": true, "objectType": "PERSON"}
		return out
	}
	for k, v := range p.body {
		if mask == nil || mask[k] {
			out[k] = v
		}
	}
	if mask == nil || mask["metadata"] {
		out["metadata"] = map[string]any{"objectType": "PERSON", "sources": []map[string]any{{
			"type": "CONTACT", "id": strings.TrimPrefix(name, "people/"), "etag": "#" + p.etag()[1:],
			"updateTime": p.updated.UTC().Format("2006-01-02T15:04:05.000Z")}}}
	}
	return out
}

// personFieldNames are the fields a client may read and write.
var personFieldNames = map[string]bool{
	"addresses": true, "biographies": true, "birthdays": true, "clientData": true, "emailAddresses": true,
	"externalIds": true, "memberships": true, "metadata": true, "names": true, "nicknames": true,
	"organizations": true, "phoneNumbers": true, "urls": true, "userDefined": true, "photos": true,
}

func fieldMask(v string) (map[string]bool, bool) {
	if v == "" {
		return nil, false
	}
	m := map[string]bool{}
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if !personFieldNames[f] {
			return nil, false
		}
		m[f] = true
	}
	return m, true
}

// errorInfo writes an error whose reason is in a google.rpc.ErrorInfo
// detail only, as People's expired sync token (§10.1).
func errorInfo(w http.ResponseWriter, status int, statusText, reason, domain, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": statusText,
		"details": []map[string]string{{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": domain}},
	}})
}

// cursor is what a page or sync token carries, opaque to clients.
type cursor struct {
	Seq    int    `json:"s"`           // a sync token: the change it was issued at
	Issued int64  `json:"t,omitempty"` // unix nanos
	Off    int    `json:"o,omitempty"` // a page token: the next item
	Sig    string `json:"q,omitempty"` // the query a page token belongs to
	Since  int    `json:"f,omitempty"` // a page token of a sync: the token's change
	Sync   bool   `json:"y,omitempty"` // a page token of a sync round
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err != nil || json.Unmarshal(b, &c) != nil {
		return cursor{}, false
	}
	return c, true
}

func readBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func servePeople(a *API, w http.ResponseWriter, r *http.Request, path string) {
	if !a.Admit(w, 1) {
		return
	}
	s := a.people()
	rest := strings.TrimPrefix(path, "v1/people")
	switch {
	case rest == "/me/connections" && r.Method == http.MethodGet:
		a.connections(s, w, r)
	case rest == ":createContact" && r.Method == http.MethodPost:
		a.createContact(s, w, r)
	case strings.HasSuffix(rest, ":updateContact") && r.Method == http.MethodPatch:
		a.updateContact(s, w, r, "people"+strings.TrimSuffix(rest, ":updateContact"))
	case strings.HasSuffix(rest, ":deleteContact") && r.Method == http.MethodDelete:
		name := "people" + strings.TrimSuffix(rest, ":deleteContact")
		a.mu.Lock()
		defer a.mu.Unlock()
		p := s.persons[name]
		if p == nil || p.deleted {
			Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Requested entity was not found.")
			return
		}
		s.seq++
		p.deleted, p.seq, p.updated, p.body = true, s.seq, a.now(), nil
		JSON(w, map[string]any{})
	case strings.HasPrefix(rest, "/c") && r.Method == http.MethodGet:
		mask, ok := fieldMask(r.URL.Query().Get("personFields"))
		if !ok {
			badRequest(w, "personFields mask is required")
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		p := s.persons["people"+rest]
		if p == nil || p.deleted {
			Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Requested entity was not found.")
			return
		}
		JSON(w, p.render("people"+rest, mask))
	default:
		Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Not Found")
	}
}

// connections is people.connections.list (§10.1).
func (a *API) connections(s *peopleState, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mask, ok := fieldMask(q.Get("personFields"))
	if !ok {
		badRequest(w, "personFields mask is required")
		return
	}
	size := 100
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			badRequest(w, "pageSize must be between 1 and 1000")
			return
		}
		size = n
	}
	syncTok, pageTok := q.Get("syncToken"), q.Get("pageToken")
	if syncTok != "" && q.Get("sortOrder") != "" {
		badRequest(w, "sortOrder is not allowed with syncToken")
		return
	}
	sig := q.Get("personFields") + "|" + syncTok + "|" + q.Get("requestSyncToken") + "|" + q.Get("sortOrder")
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	since, sync := 0, false
	if syncTok != "" {
		c, ok := decodeCursor(syncTok)
		if !ok || c.Sig != "" {
			badRequest(w, "Invalid sync token")
			return
		}
		issued := time.Unix(0, c.Issued)
		if now.Sub(issued) > s.tokenAge || issued.Before(s.forgot) {
			errorInfo(w, http.StatusBadRequest, "FAILED_PRECONDITION", "EXPIRED_SYNC_TOKEN", "people.googleapis.com",
				"Sync token is expired. Clear local cache and retry call without the sync token.")
			return
		}
		since, sync = c.Seq, true
	}
	off, at := 0, s.seq
	if pageTok != "" {
		c, ok := decodeCursor(pageTok)
		if !ok || c.Sig != sig {
			badRequest(w, "Parameters of a page request must match the first request")
			return
		}
		off, at = c.Off, c.Seq
	}
	var names []string
	for name, p := range s.persons {
		if sync && p.seq > since || !sync && !p.deleted {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	total := len(names)
	names = names[min(off, len(names)):]
	more := len(names) > size
	if more {
		names = names[:size]
	}
	out := map[string]any{"totalItems": total, "totalPeople": total}
	items := make([]map[string]any, 0, len(names))
	for _, n := range names {
		items = append(items, s.persons[n].render(n, mask))
	}
	if len(items) > 0 {
		out["connections"] = items
	}
	switch {
	case more:
		out["nextPageToken"] = encodeCursor(cursor{Seq: at, Off: off + size, Sig: sig})
	case q.Get("requestSyncToken") == "true" || sync:
		// The token names the change the listing began at: what changed
		// while it was paged comes again next time.
		out["nextSyncToken"] = encodeCursor(cursor{Seq: at, Issued: now.UnixNano()})
	}
	JSON(w, out)
}

// storeFields copies the writable fields of in into p.body: those of mask
// (nil: every field in); a field of mask absent from in is cleared.
func storeFields(p *person, in map[string]json.RawMessage, mask map[string]bool) {
	if p.body == nil {
		p.body = map[string]json.RawMessage{}
	}
	for k := range personFieldNames {
		if k == "metadata" || mask != nil && !mask[k] {
			continue
		}
		if v, ok := in[k]; ok && string(v) != "null" && string(v) != "[]" {
			p.body[k] = v
		} else if mask != nil || !ok {
			delete(p.body, k)
		}
	}
}

func (a *API) createContact(s *peopleState, w http.ResponseWriter, r *http.Request) {
	var in map[string]json.RawMessage
	if err := readBody(r, &in); err != nil {
		badRequest(w, "Invalid JSON payload")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !s.validMemberships(in["memberships"]) {
		badRequest(w, "Invalid contact group membership")
		return
	}
	s.next++
	s.seq++
	name := fmt.Sprintf("people/c%019d", 7142462727258425368+s.next)
	p := &person{seq: s.seq, updated: a.now()}
	storeFields(p, in, nil)
	if _, ok := p.body["memberships"]; !ok {
		p.body["memberships"] = json.RawMessage(`[{"contactGroupMembership":{"contactGroupResourceName":"contactGroups/myContacts"}}]`)
	}
	s.persons[name] = p
	mask, _ := fieldMask(r.URL.Query().Get("personFields"))
	JSON(w, p.render(name, mask))
}

func (a *API) updateContact(s *peopleState, w http.ResponseWriter, r *http.Request, name string) {
	mask, ok := fieldMask(r.URL.Query().Get("updatePersonFields"))
	if !ok || mask["metadata"] {
		badRequest(w, "updatePersonFields mask is required")
		return
	}
	var in map[string]json.RawMessage
	if err := readBody(r, &in); err != nil {
		badRequest(w, "Invalid JSON payload")
		return
	}
	var etag string
	_ = json.Unmarshal(in["etag"], &etag)
	a.mu.Lock()
	defer a.mu.Unlock()
	p := s.persons[name]
	switch {
	case p == nil || p.deleted:
		Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Requested entity was not found.")
		return
	case etag == "":
		badRequest(w, "Request must set person.etag or person.metadata.sources.etag for the source that is being updated.")
		return
	case etag != p.etag():
		Error(w, http.StatusBadRequest, "failedPrecondition", "FAILED_PRECONDITION",
			"person.etag is different than the current etag. Refetch the person and retry.")
		return
	}
	if mask["memberships"] {
		if m, ok := in["memberships"]; !ok || string(m) == "[]" || !s.validMemberships(m) {
			badRequest(w, "Updating memberships requires at least one valid contact group membership")
			return
		}
	}
	s.seq++
	p.seq, p.updated = s.seq, a.now()
	storeFields(p, in, mask)
	rmask, _ := fieldMask(r.URL.Query().Get("personFields"))
	JSON(w, p.render(name, rmask))
}

type membership struct {
	ContactGroupMembership *struct {
		ContactGroupResourceName string `json:"contactGroupResourceName"`
	} `json:"contactGroupMembership,omitempty"`
}

// validMemberships reports whether every group m names exists. Caller
// holds a.mu.
func (s *peopleState) validMemberships(m json.RawMessage) bool {
	if m == nil {
		return true
	}
	var ms []membership
	if json.Unmarshal(m, &ms) != nil {
		return false
	}
	for _, x := range ms {
		if x.ContactGroupMembership == nil {
			continue
		}
		g := s.groups[x.ContactGroupMembership.ContactGroupResourceName]
		if g == nil || g.deleted {
			return false
		}
	}
	return true
}

// groupsOf returns the groups a person is in.
func (p *person) groupsOf() []string {
	var ms []membership
	_ = json.Unmarshal(p.body["memberships"], &ms)
	var out []string
	for _, x := range ms {
		if x.ContactGroupMembership != nil {
			out = append(out, x.ContactGroupMembership.ContactGroupResourceName)
		}
	}
	return out
}

func (p *person) setGroups(gs []string) {
	ms := make([]map[string]any, 0, len(gs))
	for _, g := range gs {
		ms = append(ms, map[string]any{"contactGroupMembership": map[string]string{"contactGroupResourceName": g}})
	}
	b, _ := json.Marshal(ms)
	p.body["memberships"] = b
}

// memberCount counts a group's members. Caller holds a.mu.
func (s *peopleState) memberCount(g string) int {
	n := 0
	for _, p := range s.persons {
		if !p.deleted && slices.Contains(p.groupsOf(), g) {
			n++
		}
	}
	return n
}

func (s *peopleState) renderGroup(name string, g *group) map[string]any {
	t := "USER_CONTACT_GROUP"
	if g.system {
		t = "SYSTEM_CONTACT_GROUP"
	}
	out := map[string]any{"resourceName": name, "etag": "g" + strconv.Itoa(g.seq), "name": g.name, "formattedName": g.name,
		"groupType": t, "memberCount": s.memberCount(name), "metadata": map[string]any{"deleted": g.deleted}}
	if g.clientData != nil {
		out["clientData"] = g.clientData
	}
	return out
}

// nameTaken reports whether a live group other than except has name.
func (s *peopleState) nameTaken(name, except string) bool {
	for rn, g := range s.groups {
		if rn != except && !g.deleted && g.name == name {
			return true
		}
	}
	return false
}

func serveGroups(a *API, w http.ResponseWriter, r *http.Request, path string) {
	if !a.Admit(w, 1) {
		return
	}
	s := a.people()
	rest := strings.TrimPrefix(path, "v1/contactGroups")
	a.mu.Lock()
	defer a.mu.Unlock()
	notFound := func() { Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Requested entity was not found.") }
	switch {
	case rest == "" && r.Method == http.MethodGet:
		var names []string
		for n, g := range s.groups {
			if !g.deleted {
				names = append(names, n)
			}
		}
		slices.Sort(names)
		items := []map[string]any{}
		for _, n := range names {
			items = append(items, s.renderGroup(n, s.groups[n]))
		}
		JSON(w, map[string]any{"contactGroups": items, "totalItems": len(items)})
	case rest == "" && r.Method == http.MethodPost:
		var in struct {
			ContactGroup struct {
				Name       string          `json:"name"`
				ClientData json.RawMessage `json:"clientData"`
			} `json:"contactGroup"`
		}
		if readBody(r, &in) != nil || strings.TrimSpace(in.ContactGroup.Name) == "" {
			badRequest(w, "contactGroup.name is required")
			return
		}
		if s.nameTaken(in.ContactGroup.Name, "") {
			Error(w, http.StatusConflict, "duplicate", "ALREADY_EXISTS", "Contact group name already exists.")
			return
		}
		s.next++
		s.seq++
		name := fmt.Sprintf("contactGroups/%x", 0x1a2b00+s.next)
		s.groups[name] = &group{name: in.ContactGroup.Name, clientData: in.ContactGroup.ClientData, seq: s.seq}
		JSON(w, s.renderGroup(name, s.groups[name]))
	case strings.HasSuffix(rest, "/members:modify") && r.Method == http.MethodPost:
		name := "contactGroups" + strings.TrimSuffix(rest, "/members:modify")
		g := s.groups[name]
		if g == nil || g.deleted {
			notFound()
			return
		}
		var in struct {
			Add    []string `json:"resourceNamesToAdd"`
			Remove []string `json:"resourceNamesToRemove"`
		}
		if readBody(r, &in) != nil {
			badRequest(w, "Invalid JSON payload")
			return
		}
		if g.system && len(in.Add) > 0 && name != "contactGroups/myContacts" && name != "contactGroups/starred" {
			badRequest(w, "Cannot add contacts to this system group")
			return
		}
		var missing []string
		edit := func(names []string, add bool) {
			for _, pn := range names {
				p := s.persons[pn]
				if p == nil || p.deleted {
					missing = append(missing, pn)
					continue
				}
				gs := p.groupsOf()
				has := slices.Contains(gs, name)
				switch {
				case add && !has:
					gs = append(gs, name)
				case !add && has:
					gs = slices.DeleteFunc(gs, func(x string) bool { return x == name })
				default:
					continue
				}
				s.seq++
				p.seq, p.updated = s.seq, a.now()
				p.setGroups(gs)
			}
		}
		edit(in.Add, true)
		edit(in.Remove, false)
		out := map[string]any{}
		if len(missing) > 0 {
			out["notFoundResourceNames"] = missing
		}
		JSON(w, out)
	case rest != "" && r.Method == http.MethodGet:
		g := s.groups["contactGroups"+rest]
		if g == nil || g.deleted {
			notFound()
			return
		}
		out := s.renderGroup("contactGroups"+rest, g)
		if n, _ := strconv.Atoi(r.URL.Query().Get("maxMembers")); n > 0 {
			var members []string
			for pn, p := range s.persons {
				if !p.deleted && slices.Contains(p.groupsOf(), "contactGroups"+rest) {
					members = append(members, pn)
				}
			}
			slices.Sort(members)
			out["memberResourceNames"] = members[:min(n, len(members))]
		}
		JSON(w, out)
	case rest != "" && r.Method == http.MethodPut:
		name := "contactGroups" + rest
		g := s.groups[name]
		if g == nil || g.deleted {
			notFound()
			return
		}
		var in struct {
			ContactGroup struct {
				Name       string          `json:"name"`
				ClientData json.RawMessage `json:"clientData"`
			} `json:"contactGroup"`
		}
		if readBody(r, &in) != nil || strings.TrimSpace(in.ContactGroup.Name) == "" || g.system {
			badRequest(w, "contactGroup.name is required")
			return
		}
		if s.nameTaken(in.ContactGroup.Name, name) {
			Error(w, http.StatusConflict, "duplicate", "ALREADY_EXISTS", "Contact group name already exists.")
			return
		}
		s.seq++
		g.name, g.seq = in.ContactGroup.Name, s.seq
		if in.ContactGroup.ClientData != nil {
			g.clientData = in.ContactGroup.ClientData
		}
		JSON(w, s.renderGroup(name, g))
	case rest != "" && r.Method == http.MethodDelete:
		name := "contactGroups" + rest
		g := s.groups[name]
		if g == nil || g.deleted || g.system {
			notFound()
			return
		}
		a.deleteGroupLocked(s, name)
		JSON(w, map[string]any{})
	default:
		Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Not Found")
	}
}

// deleteGroupLocked deletes a group and takes its members out of it (they
// stay contacts: deleteContacts is not supported). Caller holds a.mu.
func (a *API) deleteGroupLocked(s *peopleState, name string) {
	s.seq++
	s.groups[name].deleted, s.groups[name].seq = true, s.seq
	for _, p := range s.persons {
		if p.deleted {
			continue
		}
		if gs := p.groupsOf(); slices.Contains(gs, name) {
			s.seq++
			p.seq, p.updated = s.seq, a.now()
			gs = slices.DeleteFunc(gs, func(x string) bool { return x == name })
			if len(gs) == 0 {
				gs = []string{"contactGroups/myContacts"}
			}
			p.setGroups(gs)
		}
	}
}

// Test side: what another client of the account does.

// PutPerson creates (name "") or replaces a person's fields as the user's
// phone would, and returns its resource name.
func (a *API) PutPerson(name string, fields map[string]any) string {
	s := a.people()
	b, _ := json.Marshal(fields)
	var in map[string]json.RawMessage
	_ = json.Unmarshal(b, &in)
	a.mu.Lock()
	defer a.mu.Unlock()
	s.seq++
	p := s.persons[name]
	if p == nil {
		s.next++
		name = fmt.Sprintf("people/c%019d", 7142462727258425368+s.next)
		p = &person{}
		s.persons[name] = p
	}
	p.seq, p.updated, p.deleted = s.seq, a.now(), false
	old := p.body["memberships"]
	storeFields(p, in, nil)
	if _, ok := in["memberships"]; !ok && old != nil {
		p.body["memberships"] = old
	}
	if _, ok := p.body["memberships"]; !ok {
		p.setGroups([]string{"contactGroups/myContacts"})
	}
	return name
}

// DeletePerson deletes a person as another client would.
func (a *API) DeletePerson(name string) {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := s.persons[name]; p != nil && !p.deleted {
		s.seq++
		p.deleted, p.seq, p.updated, p.body = true, s.seq, a.now(), nil
	}
}

// Persons returns every live person as the API renders it with every
// field, by resource name.
func (a *API) Persons() map[string]map[string]any {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]map[string]any{}
	for n, p := range s.persons {
		if !p.deleted {
			out[n] = p.render(n, nil)
		}
	}
	return out
}

// PersonGroups returns the names of the groups a person is in.
func (a *API) PersonGroups(name string) []string {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	p := s.persons[name]
	if p == nil || p.deleted {
		return nil
	}
	var out []string
	for _, g := range p.groupsOf() {
		if gr := s.groups[g]; gr != nil && !gr.deleted {
			out = append(out, gr.name)
		}
	}
	slices.Sort(out)
	return out
}

// Groups returns the live groups' names by resource name.
func (a *API) Groups() map[string]string {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]string{}
	for n, g := range s.groups {
		if !g.deleted {
			out[n] = g.name
		}
	}
	return out
}

// RenameGroup and DeleteGroup do what the user may do in Google Contacts.
func (a *API) RenameGroup(name, to string) {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := s.groups[name]; g != nil {
		s.seq++
		g.name, g.seq = to, s.seq
	}
}

func (a *API) DeleteGroup(name string) {
	s := a.people()
	a.mu.Lock()
	defer a.mu.Unlock()
	if g := s.groups[name]; g != nil && !g.deleted && !g.system {
		a.deleteGroupLocked(s, name)
	}
}
