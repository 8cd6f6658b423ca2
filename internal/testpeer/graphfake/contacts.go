package graphfake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// The contacts side of Graph (§7.1–§7.3): contact folders (the default
// "Contacts" one and the user's own inside it), contacts in a folder with
// an @odata.etag and changeKey that change on every write, If-Match on
// PATCH and DELETE (412 on a mismatch), a per-folder contact delta
// (/me/contactFolders/{id}/contacts/delta, and /me/contacts/delta for the
// default folder) with Prefer: odata.maxpagesize, $skiptoken and
// $deltatoken links, @removed, changed items carrying only their changed
// properties, and singleValueExtendedProperties: set on create or PATCH,
// read with $expand, found with $filter.

func init() {
	routes = append(routes,
		route{"contactFolders", (*Graph).serveContactFolders},
		route{"contacts", (*Graph).serveContacts})
}

// contactProps are the contact properties the fake stores and returns
// ([G-CT]); a write naming another is refused as Graph refuses it.
var contactProps = []string{
	"displayName", "givenName", "middleName", "surname", "nickName", "fileAs", "title", "generation", "initials",
	"emailAddresses", "imAddresses", "businessPhones", "homePhones", "mobilePhone", "companyName", "department",
	"jobTitle", "officeLocation", "profession", "manager", "assistantName", "spouseName", "children",
	"businessHomePage", "businessAddress", "homeAddress", "otherAddress", "categories", "personalNotes", "birthday",
	"yomiGivenName", "yomiSurname", "yomiCompanyName",
}

// contactArrays are the properties that are collections (empty, not
// null, when unset).
var contactArrays = map[string]bool{"emailAddresses": true, "imAddresses": true, "businessPhones": true,
	"homePhones": true, "children": true, "categories": true}

type contactFolder struct {
	id, name, parent string
	removals         []fakeRemoval
}

type fakeContact struct {
	id, folder        string
	props             map[string]json.RawMessage
	changed           map[string]uint64 // property → seq of its last write
	ext               map[string]string // extended property id → value
	created, modified time.Time
	added, seq        uint64
}

type contactStore struct {
	seq      uint64
	root     string           // the mailbox root, parent of the default folder
	folders  []*contactFolder // [0] is the default "Contacts"
	contacts map[string]*fakeContact
	delta    deltaTokens
	lose     int // creates whose answer is lost
}

// contactStore returns the contacts' state, creating it (with the default
// folder) on first use. g.mu is held.
func (g *Graph) cstore() *contactStore {
	if g.contacts == nil {
		root := "AQMkAD" + randomID()
		g.contacts = &contactStore{root: root, contacts: map[string]*fakeContact{},
			folders: []*contactFolder{{id: "AAMkAC" + randomID(), name: "Contacts", parent: root}}}
	}
	return g.contacts
}

func (s *contactStore) folder(id string) *contactFolder {
	for _, f := range s.folders {
		if f.id == id {
			return f
		}
	}
	return nil
}

func (c *fakeContact) etag() string { return `W/"` + c.changeKey() + `"` }

func (c *fakeContact) changeKey() string { return fmt.Sprintf("EQAAABYAAAD%08d", c.seq) }

// --- helpers: the mailbox as Outlook (another client) changes it ---

// DefaultContactFolder returns the id of the default "Contacts" folder.
func (g *Graph) DefaultContactFolder() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cstore().folders[0].id
}

// AddContactFolder creates a folder inside the default Contacts folder and
// returns its id.
func (g *Graph) AddContactFolder(name string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.cstore()
	f := &contactFolder{id: "AAMkAC" + randomID(), name: name, parent: s.folders[0].id}
	s.folders = append(s.folders, f)
	return f.id
}

// AddContact creates a contact in folder ("" the default one) with props
// (Graph's property names and JSON shapes) and returns its id. A
// "singleValueExtendedProperties" entry sets extended properties.
func (g *Graph) AddContact(folder string, props map[string]any) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.cstore()
	f := s.folders[0]
	if folder != "" {
		f = s.folder(folder)
	}
	if f == nil {
		panic("graphfake: no contact folder " + folder)
	}
	c, err := g.createContact(f, mustRaw(props))
	if err != "" {
		panic("graphfake: " + err)
	}
	return c.id
}

// UpdateContact sets props on a contact (a null value clears one), as a
// user editing it in Outlook: its changeKey changes.
func (g *Graph) UpdateContact(id string, props map[string]any) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.cstore().contacts[id]
	if c == nil {
		panic("graphfake: no contact " + id)
	}
	if err := g.patchContact(c, mustRaw(props)); err != "" {
		panic("graphfake: " + err)
	}
}

// DeleteContact deletes a contact for good.
func (g *Graph) DeleteContact(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeContact(g.cstore().contacts[id])
}

func (g *Graph) removeContact(c *fakeContact) {
	s := g.cstore()
	s.seq++
	f := s.folder(c.folder)
	f.removals = append(f.removals, fakeRemoval{id: c.id, seq: s.seq})
	delete(s.contacts, c.id)
}

// LoseContactReplies makes the next n contact creates happen but lose
// their answer: the connection closes before a byte of it is sent, as
// when a network drops (the client cannot tell whether the contact was
// made).
func (g *Graph) LoseContactReplies(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cstore().lose = n
}

// ContactState is a contact as the fake holds it.
type ContactState struct {
	Folder string // folder id
	ETag   string
	// Props are the stored properties, decoded from JSON (strings,
	// []any, map[string]any).
	Props    map[string]any
	Extended map[string]string // extended property id → value
}

// Contact returns a contact's state; false when it does not exist.
func (g *Graph) Contact(id string) (ContactState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.cstore().contacts[id]
	if c == nil {
		return ContactState{}, false
	}
	st := ContactState{Folder: c.folder, ETag: c.etag(), Props: map[string]any{}, Extended: maps.Clone(c.ext)}
	for k, v := range c.props {
		var x any
		json.Unmarshal(v, &x)
		st.Props[k] = x
	}
	return st, true
}

// ContactIDs returns the ids of the contacts in folder ("" the default
// one), oldest first.
func (g *Graph) ContactIDs(folder string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.cstore()
	if folder == "" {
		folder = s.folders[0].id
	}
	var out []string
	for _, c := range s.sortedContacts(folder) {
		out = append(out, c.id)
	}
	return out
}

// ExpireContactTokens forgets every contact delta and skip token issued
// so far: the next use answers 410 syncStateNotFound, or, withLocation,
// 410 with a Location naming a fresh delta request (§5).
func (g *Graph) ExpireContactTokens(withLocation bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.cstore().delta.expire(withLocation)
}

func mustRaw(props map[string]any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range props {
		b, err := json.Marshal(v)
		if err != nil {
			panic(err)
		}
		out[k] = b
	}
	return out
}

// --- writes, shared by the helpers and HTTP (g.mu held) ---

type extProp struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

// createContact stores a new contact; a non-empty result is what is wrong
// with props.
func (g *Graph) createContact(f *contactFolder, props map[string]json.RawMessage) (*fakeContact, string) {
	s := g.cstore()
	s.seq++
	now := g.now().UTC().Truncate(time.Second)
	c := &fakeContact{id: "AAkALgAAAA" + randomID(), folder: f.id, props: map[string]json.RawMessage{},
		changed: map[string]uint64{}, ext: map[string]string{}, created: now, added: s.seq}
	if err := g.setProps(c, props); err != "" {
		s.seq--
		return nil, err
	}
	if _, ok := c.props["displayName"]; !ok {
		// Outlook makes one from the names when none is given.
		var given, sur string
		json.Unmarshal(c.props["givenName"], &given)
		json.Unmarshal(c.props["surname"], &sur)
		if n := strings.TrimSpace(given + " " + sur); n != "" {
			c.props["displayName"], _ = json.Marshal(n)
		}
	}
	c.seq, c.modified = s.seq, now
	s.contacts[c.id] = c
	return c, ""
}

// patchContact writes props over c; its changeKey changes.
func (g *Graph) patchContact(c *fakeContact, props map[string]json.RawMessage) string {
	s := g.cstore()
	s.seq++
	if err := g.setProps(c, props); err != "" {
		s.seq--
		return err
	}
	c.seq, c.modified = s.seq, g.now().UTC().Truncate(time.Second)
	return ""
}

// setProps checks props and writes them at the store's current seq.
func (g *Graph) setProps(c *fakeContact, props map[string]json.RawMessage) string {
	seq := g.cstore().seq
	var ext []extProp
	for k, v := range props {
		switch {
		case k == "singleValueExtendedProperties":
			if err := json.Unmarshal(v, &ext); err != nil {
				return "singleValueExtendedProperties is not a list of {id, value}."
			}
			for _, e := range ext {
				if !validExtID(e.ID) {
					return "The extended property id " + e.ID + " is not valid."
				}
			}
		case k == "@odata.type" || k == "id" || k == "parentFolderId":
		case !slices.Contains(contactProps, k):
			return "Could not find a property named '" + k + "' on type 'microsoft.graph.contact'."
		case contactArrays[k] && string(v) != "null" && (len(v) == 0 || v[0] != '['):
			return "The property '" + k + "' is a collection."
		}
	}
	for k, v := range props {
		if !slices.Contains(contactProps, k) {
			continue
		}
		if string(v) == "null" {
			delete(c.props, k)
		} else {
			c.props[k] = v
		}
		c.changed[k] = seq
	}
	for _, e := range ext {
		c.ext[e.ID] = e.Value
	}
	return ""
}

// extIDPattern is the form of a named or id'd extended property (§7.3):
// "{type} {guid} Name {name}", "{type} {guid} Id {0x…}", "{type} {proptag}".
var extIDPattern = regexp.MustCompile(`^(?i:String|Integer|Boolean|SystemTime|Binary|Guid|Long|Double|Short|Float|Currency|Object) ` +
	`(\{[0-9A-Fa-f-]{36}\} (Name \S.*|(?i:Id) 0x[0-9A-Fa-f]+)|0x[0-9A-Fa-f]+)$`)

func validExtID(id string) bool { return extIDPattern.MatchString(id) }

// sameExtID compares extended property ids: the type and GUID without
// case, the name with it (§7.3's source: names are case-sensitive).
func sameExtID(a, b string) bool {
	an, aName, aok := strings.Cut(a, " Name ")
	bn, bName, bok := strings.Cut(b, " Name ")
	if aok != bok {
		return false
	}
	return strings.EqualFold(an, bn) && aName == bName
}

func (c *fakeContact) extValue(id string) (string, bool) {
	for k, v := range c.ext {
		if sameExtID(k, id) {
			return v, true
		}
	}
	return "", false
}

// --- HTTP ---

func notFound(w http.ResponseWriter) {
	graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
}

// serveContactFolders answers /me/contactFolders[/{id}[/contacts[/delta|/{cid}]]].
func (g *Graph) serveContactFolders(w http.ResponseWriter, r *http.Request, path string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.cstore()
	if len(seg) == 1 {
		if r.Method != http.MethodGet {
			graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
			return
		}
		g.listContactFolders(w, r)
		return
	}
	f := s.folder(seg[1])
	if f == nil {
		notFound(w)
		return
	}
	switch {
	case len(seg) == 2 && r.Method == http.MethodGet:
		writeGraphJSON(w, s.folderJSON(f))
	case len(seg) >= 3 && seg[2] == "contacts":
		g.serveFolderContacts(w, r, f, seg[3:])
	default:
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
	}
}

// serveContacts answers /me/contacts[/delta|/{id}]: the default folder's
// contacts, and any contact of the mailbox by id.
func (g *Graph) serveContacts(w http.ResponseWriter, r *http.Request, path string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	g.mu.Lock()
	defer g.mu.Unlock()
	g.serveFolderContacts(w, r, g.cstore().folders[0], seg[1:])
}

// serveFolderContacts answers a folder's contacts collection; rest is
// what follows ".../contacts".
func (g *Graph) serveFolderContacts(w http.ResponseWriter, r *http.Request, f *contactFolder, rest []string) {
	s := g.cstore()
	switch {
	case len(rest) == 0 && r.Method == http.MethodGet:
		g.listContacts(w, r, f)
	case len(rest) == 0 && r.Method == http.MethodPost:
		props, ok := readProps(w, r)
		if !ok {
			return
		}
		c, msg := g.createContact(f, props)
		if msg != "" {
			graphError(w, http.StatusBadRequest, "invalidRequest", msg)
			return
		}
		if s.lose > 0 {
			if hj, ok := w.(http.Hijacker); ok {
				s.lose--
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
				}
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(g.contactJSON(c, nil, nil))
	case len(rest) == 1 && rest[0] == "delta" && r.Method == http.MethodGet:
		g.contactDelta(w, r, f)
	case len(rest) == 1:
		c := s.contacts[rest[0]]
		// /me/contacts/{id} reaches any contact; a folder's path only its own.
		if c == nil || f != s.folders[0] && c.folder != f.id {
			notFound(w)
			return
		}
		g.serveContact(w, r, c)
	default:
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
	}
}

func readProps(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, bool) {
	var props map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&props); err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", "The body is not a JSON object.")
		return nil, false
	}
	return props, true
}

func (g *Graph) serveContact(w http.ResponseWriter, r *http.Request, c *fakeContact) {
	q := r.URL.Query()
	switch r.Method {
	case http.MethodGet:
		expand, ok := parseExpand(q.Get("$expand"))
		if !ok {
			graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported $expand.")
			return
		}
		writeGraphJSON(w, g.contactJSON(c, selectList(q), expand))
	case http.MethodPatch:
		props, ok := readProps(w, r)
		if !ok || !ifMatch(w, r, c.etag(), `"`+c.changeKey()+`"`) {
			return
		}
		if msg := g.patchContact(c, props); msg != "" {
			graphError(w, http.StatusBadRequest, "invalidRequest", msg)
			return
		}
		writeGraphJSON(w, g.contactJSON(c, nil, nil))
	case http.MethodDelete:
		if !ifMatch(w, r, c.etag(), `"`+c.changeKey()+`"`) {
			return
		}
		g.removeContact(c)
		w.WriteHeader(http.StatusNoContent)
	default:
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
	}
}

func (s *contactStore) folderJSON(f *contactFolder) map[string]any {
	return map[string]any{"id": f.id, "displayName": f.name, "parentFolderId": f.parent}
}

// listContactFolders lists the default folder and the folders inside it
// (§7.1: the sample lists "Contacts" with its parentFolderId), $top at a
// time with a $skip nextLink.
func (g *Graph) listContactFolders(w http.ResponseWriter, r *http.Request) {
	s := g.cstore()
	var all []any
	for _, f := range s.folders {
		all = append(all, s.folderJSON(f))
	}
	writeSkipPage(w, r, all)
}

// filterPattern is the lookup by extended property of §7.3.
var filterPattern = regexp.MustCompile(`^(?i:singleValueExtendedProperties/any)\(\s*(\w+)\s*:\s*(\w+)/id eq '((?:[^']|'')*)' and (\w+)/value eq '((?:[^']|'')*)'\s*\)$`)

// expandPattern is the read of one extended property of §7.3.
var expandPattern = regexp.MustCompile(`^(?i:singleValueExtendedProperties)\(\$filter=id eq '((?:[^']|'')*)'\)$`)

func unquote(s string) string { return strings.ReplaceAll(s, "''", "'") }

// parseExpand reads $expand: "" or one extended property.
func parseExpand(v string) (*string, bool) {
	if v == "" {
		return nil, true
	}
	m := expandPattern.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return nil, false
	}
	id := unquote(m[1])
	return &id, true
}

func selectList(q url.Values) []string {
	if v := q.Get("$select"); v != "" {
		return strings.Split(v, ",")
	}
	return nil
}

func (s *contactStore) sortedContacts(folder string) []*fakeContact {
	var out []*fakeContact
	for _, c := range s.contacts {
		if c.folder == folder {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].added < out[j].added })
	return out
}

// listContacts lists a folder's contacts, filtered by an extended property
// when $filter asks (§7.3), with $select and $expand.
func (g *Graph) listContacts(w http.ResponseWriter, r *http.Request, f *contactFolder) {
	q := r.URL.Query()
	expand, ok := parseExpand(q.Get("$expand"))
	if !ok {
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported $expand.")
		return
	}
	var match func(*fakeContact) bool
	if v := q.Get("$filter"); v != "" {
		m := filterPattern.FindStringSubmatch(strings.TrimSpace(v))
		if m == nil || m[1] != m[2] || m[1] != m[4] {
			graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported $filter.")
			return
		}
		id, value := unquote(m[3]), unquote(m[5])
		match = func(c *fakeContact) bool {
			v, ok := c.extValue(id)
			return ok && strings.EqualFold(v, value) // values compare without case
		}
	}
	var all []any
	for _, c := range g.cstore().sortedContacts(f.id) {
		if match == nil || match(c) {
			all = append(all, g.contactJSON(c, selectList(q), expand))
		}
	}
	writeSkipPage(w, r, all)
}

// contactJSON renders c: every property (null or [] when unset), or those
// of sel; with the extended property expand names when it has it.
func (g *Graph) contactJSON(c *fakeContact, sel []string, expand *string) map[string]any {
	out := map[string]any{"@odata.etag": c.etag(), "id": c.id}
	all := map[string]any{"changeKey": c.changeKey(), "parentFolderId": c.folder,
		"createdDateTime": c.created.Format(time.RFC3339), "lastModifiedDateTime": c.modified.Format(time.RFC3339)}
	for _, p := range contactProps {
		switch v, ok := c.props[p]; {
		case ok:
			all[p] = v
		case contactArrays[p]:
			all[p] = []any{}
		default:
			all[p] = nil
		}
	}
	for k, v := range all {
		if sel == nil || slices.ContainsFunc(sel, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), k) }) {
			out[k] = v
		}
	}
	if expand != nil {
		eps := []extProp{}
		if v, ok := c.extValue(*expand); ok {
			eps = append(eps, extProp{ID: *expand, Value: v})
		}
		out["singleValueExtendedProperties"] = eps
	}
	return out
}

// changedJSON renders what changed on c after since: its ids, dates and
// the properties written since (in sel when given).
func (g *Graph) changedJSON(c *fakeContact, since uint64, sel []string) map[string]any {
	full := g.contactJSON(c, nil, nil)
	out := map[string]any{"@odata.etag": c.etag(), "id": c.id, "changeKey": c.changeKey(),
		"lastModifiedDateTime": full["lastModifiedDateTime"]}
	for p, seq := range c.changed {
		if seq > since && (sel == nil || slices.ContainsFunc(sel, func(s string) bool { return strings.EqualFold(strings.TrimSpace(s), p) })) {
			out[p] = full[p]
		}
	}
	return out
}

// contactDelta answers one page of a folder's contact delta (§7.1, as
// §6.2 for messages).
func (g *Graph) contactDelta(w http.ResponseWriter, r *http.Request, f *contactFolder) {
	s := g.cstore()
	s.delta.duplicate = g.mail.delta.duplicate // one DuplicateInRound switch for every area
	s.delta.serve(w, r, deltaArea{scope: f.id, what: "folder", odataType: "#microsoft.graph.contact",
		context: "https://graph.microsoft.com/v1.0/$metadata#Collection(contact)",
		start: func(since uint64, initial bool) ([]string, map[string]bool, uint64) {
			return s.startRound(f, since, initial)
		},
		item: func(id string, round *deltaToken) map[string]any {
			switch c := s.contacts[id]; {
			case c == nil || c.folder != f.id:
				return nil
			case round.full[id]:
				return g.contactJSON(c, round.sel, nil)
			default:
				return g.changedJSON(c, round.since, round.sel)
			}
		},
		link: func(param, token string) string { return g.contactDeltaURL(r, f, param, token) }})
}

// startRound lists what changed in f after since: every contact on an
// initial round; else those created (in full) or changed (their changed
// properties only) since, and @removed for those deleted.
func (s *contactStore) startRound(f *contactFolder, since uint64, initial bool) (rest []string, full map[string]bool, end uint64) {
	full = map[string]bool{}
	for _, c := range s.sortedContacts(f.id) {
		if initial || c.seq > since {
			rest = append(rest, c.id)
			full[c.id] = initial || c.added > since
		}
	}
	if !initial {
		seen := map[string]bool{}
		for _, r := range f.removals {
			if r.seq > since && !seen[r.id] && s.contacts[r.id] == nil {
				seen[r.id] = true
				rest = append(rest, "-"+r.id)
			}
		}
	}
	return rest, full, s.seq
}

// contactDeltaURL is the absolute link of a folder's contact delta with
// one token.
func (g *Graph) contactDeltaURL(r *http.Request, f *contactFolder, param, token string) string {
	return scheme(r) + "://" + r.Host + "/v1.0/me/contactFolders/" + url.PathEscape(f.id) + "/contacts/delta?" + param + "=" + url.QueryEscape(token)
}
