package graphpim

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/pim"
)

// StampProperty is the extended property that carries the CRM's stamp
// (pim.StampUID) on the contacts crmsync creates (§7.3: a named property
// in crmsync's own property set, one form only).
const StampProperty = "String {b6a4f8d2-7c31-4e0b-9f5a-3d2e1c0b9a87} Name CrmsyncUID"

// DefaultFolder is the id that names the default Contacts folder when
// Graph does not list it among the contact folders: it is reached as
// /me/contacts.
const DefaultFolder = "contacts"

// DeltaPageSize is the page size asked of a contact delta (Prefer:
// odata.maxpagesize); Graph may send less.
const DeltaPageSize = 500

// ContactFolders lists the user's own contact folders (§7.1): those under
// /me/contactFolders, never another user's shared or delegated ones
// (reached elsewhere, with scopes crmsync does not ask for). The default
// "Contacts" folder is marked Default: the one the others sit in, else
// the one named Contacts at the top; when Graph lists neither, it is added
// as DefaultFolder.
func ContactFolders(ctx context.Context, c *cloudapi.Client) ([]Collection, error) {
	type folder struct {
		ID          string `json:"id"`
		DisplayName string `json:"displayName"`
		Parent      string `json:"parentFolderId"`
	}
	var fs []folder
	_, err := pages(ctx, c, "/me/contactFolders?$top=100", 0, func(raw json.RawMessage) error {
		var f folder
		if err := json.Unmarshal(raw, &f); err != nil || f.ID == "" {
			return protocol(c, "Microsoft Graph listed a contact folder crmsync cannot read.")
		}
		fs = append(fs, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, f := range fs {
		ids[f.ID] = true
	}
	def := ""
	for _, f := range fs {
		if ids[f.Parent] {
			def = f.Parent
			break
		}
	}
	if def == "" {
		for _, f := range fs {
			if strings.EqualFold(strings.TrimSpace(f.DisplayName), "Contacts") {
				def = f.ID
				break
			}
		}
	}
	var out []Collection
	if def == "" {
		out = append(out, Collection{ID: DefaultFolder, Name: "Contacts", Default: true})
	}
	for _, f := range fs {
		out = append(out, Collection{ID: f.ID, Name: f.DisplayName, Default: f.ID == def})
	}
	return out, nil
}

// Contacts is one contact folder as a pim.Remote and pim.CategoryKeeper.
// Hrefs are contact ids (immutable: every request prefers ImmutableId),
// ETags Graph's @odata.etag.
type Contacts struct {
	c      *cloudapi.Client
	folder string

	mu sync.Mutex
	// seen are the contacts the last round of changes carried whole, not
	// fetched yet: Fetch reads them from here instead of asking again.
	seen map[string]json.RawMessage
}

// NewContacts opens the folder folderID (a Collection's ID). It sends
// nothing.
func NewContacts(c *cloudapi.Client, folderID string) *Contacts {
	return &Contacts{c: c, folder: folderID}
}

var (
	_ pim.Remote         = (*Contacts)(nil)
	_ pim.CategoryKeeper = (*Contacts)(nil)
)

// collection is the path of the folder's contacts.
func (r *Contacts) collection() string {
	if r.folder == DefaultFolder {
		return "/me/contacts"
	}
	return "/me/contactFolders/" + url.PathEscape(r.folder) + "/contacts"
}

// query escapes a query value as Graph reads it (%20, not +, for spaces).
func query(v string) string { return strings.ReplaceAll(url.QueryEscape(v), "+", "%20") }

// deltaSelect are the properties a round of changes asks for: those the
// fields map, and what an update needs of the item as it is (§7.1:
// $select is bound to the round's links).
var deltaSelect = []string{"changeKey", "lastModifiedDateTime", "displayName", "givenName", "surname", "emailAddresses",
	"businessPhones", "mobilePhone", "homePhones", "companyName", "jobTitle", "personalNotes", "categories",
	"businessAddress", "homeAddress", "otherAddress"}

// Changes runs a contact delta round (§7.1, §1): from token (the
// deltaLink of the last round) or, with "", a full round. The contacts it
// carries whole (all of deltaSelect; a changed one may carry only what
// changed) are kept for Fetch.
func (r *Contacts) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	u := token
	if u == "" {
		u = r.collection() + "/delta?$select=" + query(strings.Join(deltaSelect, ","))
	}
	etags := map[string]string{}
	deleted := map[string]bool{}
	whole := map[string]json.RawMessage{}
	var order []string
	link, err := pages(ctx, r.c, u, DeltaPageSize, func(raw json.RawMessage) error {
		var it struct {
			ID      string          `json:"id"`
			ETag    string          `json:"@odata.etag"`
			Removed json.RawMessage `json:"@removed"`
		}
		if err := json.Unmarshal(raw, &it); err != nil || it.ID == "" {
			return protocol(r.c, "Microsoft Graph sent a contact change crmsync cannot read.")
		}
		// Replays within a round are allowed (§1): the last word counts.
		if len(it.Removed) > 0 && string(it.Removed) != "null" {
			delete(etags, it.ID)
			delete(whole, it.ID)
			deleted[it.ID] = true
			return nil
		}
		if _, seen := etags[it.ID]; !seen {
			order = append(order, it.ID)
		}
		etags[it.ID] = it.ETag
		delete(deleted, it.ID)
		delete(whole, it.ID)
		if it.ETag != "" && isWhole(raw) {
			whole[it.ID] = raw
		}
		return nil
	})
	if err != nil {
		return pim.RemoteChanges{}, err
	}
	r.mu.Lock()
	r.seen = whole
	r.mu.Unlock()
	if link == "" {
		return pim.RemoteChanges{}, protocol(r.c, "Microsoft Graph ended a round of contact changes without saying where the next one starts.")
	}
	ch := pim.RemoteChanges{Full: token == "", Token: link}
	for _, id := range order {
		if etag, ok := etags[id]; ok {
			ch.Items = append(ch.Items, pim.RemoteRef{Href: id, ETag: etag})
		}
	}
	if !ch.Full {
		ch.Deleted = slices.Sorted(maps.Keys(deleted))
	}
	return ch, nil
}

// isWhole reports whether a contact of a round carries every property of
// deltaSelect.
func isWhole(raw json.RawMessage) bool {
	var props map[string]json.RawMessage
	if json.Unmarshal(raw, &props) != nil {
		return false
	}
	for _, p := range deltaSelect {
		if _, ok := props[p]; !ok {
			return false
		}
	}
	return true
}

// take returns (and forgets) the contact the last round carried whole.
func (r *Contacts) take(id string) (json.RawMessage, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	raw, ok := r.seen[id]
	delete(r.seen, id)
	return raw, ok
}

// Fetch returns contacts with their stamp. One the last round of changes
// carried whole is read from it, unless it carries a fixed category: only
// a contact crmsync wrote does, and only such a one can carry a stamp,
// which delta cannot return (§7.3: read with $expand, one contact at a
// time). The others are read 20 to a JSON batch (§4). So a first sync of
// 5,000 contacts made in Outlook costs the round's pages alone, and one of
// 5,000 contacts crmsync made 250 batches more, not 5,000 requests. A part
// Graph throttles is asked again once its Retry-After has passed.
func (r *Contacts) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	var items []pim.RemoteItem
	var bad []pim.ItemError
	var missing []string
	seen := map[string]bool{}
	var ids []string
	for _, h := range hrefs {
		if seen[h] {
			continue
		}
		seen[h] = true
		if raw, ok := r.take(h); ok {
			if it, err := r.decode(raw); err == nil && !slices.ContainsFunc(it.Fields[pim.FieldCategories].List, pim.IsFixed) {
				it.Href = h
				items = append(items, it)
				continue
			}
		}
		ids = append(ids, h)
	}
	expand := "?$expand=" + query("singleValueExtendedProperties($filter=id eq '"+quote(StampProperty)+"')")
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxBatch)]
		ids = ids[len(chunk):]
		for attempt := 0; len(chunk) > 0; attempt++ {
			parts := make([]batchRequest, len(chunk))
			for i, id := range chunk {
				parts[i] = batchRequest{ID: strconv.Itoa(i), Method: http.MethodGet, URL: "/me/contacts/" + url.PathEscape(id) + expand,
					Headers: map[string]string{"Prefer": `IdType="ImmutableId"`}}
			}
			answers, err := batch(ctx, r.c, parts)
			if err != nil {
				return nil, nil, nil, err
			}
			var again []string
			var wait time.Duration
			for _, a := range answers {
				i, err := strconv.Atoi(a.ID)
				if err != nil || i < 0 || i >= len(chunk) {
					return nil, nil, nil, protocol(r.c, "Microsoft Graph answered a batch with a part crmsync did not ask for.")
				}
				id := chunk[i]
				switch {
				case a.Status == http.StatusOK:
					it, err := r.decode(a.Body)
					if err != nil {
						bad = append(bad, pim.ItemError{Href: id, Err: err})
						continue
					}
					it.Href = id // as the engine knows it, whatever the id's form
					items = append(items, it)
				case a.Status == http.StatusNotFound:
					missing = append(missing, id)
				default:
					ce := a.classify(r.c)
					switch ce.Kind {
					case connerr.Throttled, connerr.Unreachable:
						again = append(again, id)
						wait = max(wait, ce.RetryAfter)
					case connerr.Protocol:
						bad = append(bad, pim.ItemError{Href: id, Err: ce})
					default:
						return nil, nil, nil, ce
					}
				}
			}
			if len(again) > 0 {
				if attempt >= r.c.Retries {
					return nil, nil, nil, graph.Throttled(r.c.Server, wait, nil)
				}
				if wait <= 0 {
					wait = r.c.Backoff << min(attempt, 10)
				}
				r.c.Gate.Hold(wait) // the next batch waits for it
			}
			chunk = again
		}
	}
	return items, bad, missing, nil
}

// decode reads a contact as Fetch, Create and Update receive it.
func (r *Contacts) decode(raw []byte) (pim.RemoteItem, error) {
	var c gContact
	if err := json.Unmarshal(raw, &c); err != nil || c.ID == "" {
		return pim.RemoteItem{}, fmt.Errorf("graphpim: a contact crmsync cannot read: %v", err)
	}
	it := pim.RemoteItem{Href: c.ID, ETag: c.ETag, Type: pim.RecordContact, Fields: c.fields(), Modified: c.modified(), Raw: raw}
	for _, e := range c.Extended {
		if strings.EqualFold(e.ID, StampProperty) {
			it.UID = e.Value
		}
	}
	return it, nil
}

// quote escapes a string for an OData literal.
func quote(s string) string { return strings.ReplaceAll(s, "'", "''") }

// Create writes a new contact stamped with uid. Graph assigns the id, so
// a create cannot be made conditional: a POST whose answer is lost (the
// connection dropped, a 5xx, a 429) is never sent again blindly. The
// folder is searched for the stamp first (§7.3), and a contact found there
// is pim.ErrExists with its href. No search precedes the first attempt: a
// contact created in a pass that stopped before it was recorded comes back
// in the next round of changes with its stamp, and the engine links it
// before it creates anything.
func (r *Contacts) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	body := patch(nil, f)
	body["singleValueExtendedProperties"] = []gExtended{{ID: StampProperty, Value: uid}}
	b, err := json.Marshal(body)
	if err != nil {
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	once := *r.c // one attempt per POST: retries are decided here
	once.Retries = 0
	for attempt := 0; ; attempt++ {
		resp, err := once.Do(ctx, cloudapi.Request{Method: http.MethodPost, URL: r.collection(), Body: b})
		if err == nil {
			var raw json.RawMessage
			derr := r.c.DecodeJSON(resp.Body, maxSmall, &raw)
			resp.Body.Close()
			if derr != nil {
				return pim.RemoteItem{}, derr
			}
			it, derr := r.decode(raw)
			if derr != nil {
				return pim.RemoteItem{}, protocol(r.c, "Microsoft Graph answered a new contact with something crmsync cannot read.")
			}
			it.UID = uid
			return it, nil
		}
		ce := connerr.As(err)
		if ctx.Err() != nil || ce == nil || ce.Kind != connerr.Unreachable && ce.Kind != connerr.Throttled {
			return pim.RemoteItem{}, refused(err)
		}
		href, ferr := r.findStamp(ctx, uid)
		switch {
		case ferr != nil:
			return pim.RemoteItem{}, ferr
		case href != "":
			return pim.RemoteItem{Href: href}, fmt.Errorf("%w: the contact was created before its answer was lost", pim.ErrExists)
		case attempt >= r.c.Retries:
			return pim.RemoteItem{}, err
		case ce.Kind == connerr.Unreachable:
			sleep(ctx, r.c.Backoff<<min(attempt, 10))
		}
		// Throttled: the client's gate holds the next attempt until the
		// Retry-After has passed.
	}
}

// findStamp returns the id of the folder's contact stamped uid, "" when
// there is none.
func (r *Contacts) findStamp(ctx context.Context, uid string) (string, error) {
	filter := "singleValueExtendedProperties/Any(ep: ep/id eq '" + quote(StampProperty) + "' and ep/value eq '" + quote(uid) + "')"
	var found string
	_, err := pages(ctx, r.c, r.collection()+"?$filter="+query(filter)+"&$select=id", 0, func(raw json.RawMessage) error {
		var it struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &it) == nil && found == "" {
			found = it.ID
		}
		return nil
	})
	return found, err
}

// Update patches the properties of the fields that differ from prev.Raw,
// with If-Match: prev.ETag.
func (r *Contacts) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	// After this write (or its 412) the round's copy is stale: a refetch
	// must ask Graph.
	r.take(prev.Href)
	var old *gContact
	if len(prev.Raw) > 0 {
		old = &gContact{}
		if err := json.Unmarshal(prev.Raw, old); err != nil || old.ID == "" {
			old = nil // write every field
		}
	}
	body := patch(old, f)
	if len(body) == 0 {
		return prev, nil // it holds f already
	}
	b, err := json.Marshal(body)
	if err != nil {
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	h := http.Header{}
	if prev.ETag != "" {
		h.Set("If-Match", prev.ETag)
	}
	resp, err := r.c.Do(ctx, cloudapi.Request{Method: http.MethodPatch, URL: "/me/contacts/" + url.PathEscape(prev.Href), Body: b, Header: h})
	switch s := cloudapi.Status(err); {
	case s == http.StatusPreconditionFailed:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrPrecondition, err)
	case s == http.StatusNotFound:
		return pim.RemoteItem{}, fmt.Errorf("%w: %v", pim.ErrGone, err)
	case err != nil:
		return pim.RemoteItem{}, refused(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := r.c.DecodeJSON(resp.Body, maxSmall, &raw); err != nil {
		return pim.RemoteItem{}, err
	}
	it, err := r.decode(raw)
	if err != nil {
		return pim.RemoteItem{}, protocol(r.c, "Microsoft Graph answered a contact update with something crmsync cannot read.")
	}
	it.UID = prev.UID
	return it, nil
}

// refused marks a 4xx answer to a write (but those about the account:
// 401, 403, 429) as a fault of the item, not of the connection.
func refused(err error) error {
	if s := cloudapi.Status(err); s >= 400 && s < 500 && s != 401 && s != 403 && s != 404 && s != 429 {
		return fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// categoryColors are the fixed categories' colors in Outlook's master
// list (§7.4), one per status so they can be told apart at a glance.
var categoryColors = map[string]string{
	pim.CategoryPerson:          "preset7",  // blue
	pim.CategoryCompany:         "preset10", // steel
	pim.CategoryCurrentProspect: "preset3",  // yellow
	pim.CategoryLostProspect:    "preset12", // gray
	pim.CategoryCurrentCustomer: "preset4",  // green
	pim.CategoryPastCustomer:    "preset8",  // purple
	pim.CategoryLead:            "preset1",  // orange
}

// KeepCategories creates each of names missing from the mailbox's master
// category list (§7.4), with its fixed color: one the user deleted, or
// renamed (a name is immutable in Graph; Outlook renames by replacing), is
// thus restored. Existing ones, matched without case as Exchange matches
// them, are left as the user has them (color included).
func (r *Contacts) KeepCategories(ctx context.Context, names []string) error {
	have := map[string]bool{}
	_, err := pages(ctx, r.c, "/me/outlook/masterCategories", 0, func(raw json.RawMessage) error {
		var c struct {
			DisplayName string `json:"displayName"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return protocol(r.c, "Microsoft Graph listed an Outlook category crmsync cannot read.")
		}
		have[strings.ToLower(c.DisplayName)] = true
		return nil
	})
	if err != nil {
		return err
	}
	for _, n := range names {
		if have[strings.ToLower(n)] {
			continue
		}
		color, ok := categoryColors[n]
		if !ok {
			color = "none"
		}
		b, _ := json.Marshal(map[string]string{"displayName": n, "color": color})
		resp, err := r.c.Do(ctx, cloudapi.Request{Method: http.MethodPost, URL: "/me/outlook/masterCategories", Body: b})
		if cloudapi.Status(err) == http.StatusConflict {
			continue // made meanwhile, by Outlook or another pass
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		have[strings.ToLower(n)] = true
	}
	return nil
}
