package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// ContactCreationRequest is the body of POST /api/v1/contacts.
type ContactCreationRequest struct {
	FirstName    string             `json:"first_name"`
	LastName     string             `json:"last_name"`
	Emails       []string           `json:"emails"`
	Phones       []string           `json:"phones"`
	CompanyID    *int64             `json:"company_id"`
	OwnerID      *int64             `json:"owner_id"`  // default: the caller
	Lifecycle    crm.Lifecycle      `json:"lifecycle"` // default: lead
	Title        string             `json:"title"`
	Address      *AddressRequest    `json:"address"`
	Notes        string             `json:"notes"`
	Categories   []string           `json:"categories"`
	CustomFields map[string]*string `json:"custom_fields"`
}

// ContactUpdateRequest is the body of PATCH /api/v1/contacts/{id}: only the
// fields present change. custom_fields is merged key by key (RFC 7396): a
// key set to null is removed, and custom_fields: null removes them all.
type ContactUpdateRequest struct {
	FirstName    Opt[string]             `json:"first_name"`
	LastName     Opt[string]             `json:"last_name"`
	Emails       Opt[[]string]           `json:"emails"`
	Phones       Opt[[]string]           `json:"phones"`
	CompanyID    Opt[int64]              `json:"company_id"` // null: no company
	OwnerID      Opt[int64]              `json:"owner_id"`
	Lifecycle    Opt[crm.Lifecycle]      `json:"lifecycle"`
	Title        Opt[string]             `json:"title"`
	Address      Opt[AddressRequest]     `json:"address"` // null: no address
	Notes        Opt[string]             `json:"notes"`
	Categories   Opt[[]string]           `json:"categories"`
	CustomFields Opt[map[string]*string] `json:"custom_fields"`
}

// AddressRequest is a postal address in a request. Every part is
// optional; an address with no part is no address.
type AddressRequest struct {
	Street     string `json:"street"`
	City       string `json:"city"`
	Region     string `json:"region"`
	PostalCode string `json:"postal_code"`
	Country    string `json:"country"`
}

// UnmarshalJSON decodes the address strictly, also inside an Opt.
func (a *AddressRequest) UnmarshalJSON(b []byte) error {
	type plain AddressRequest
	return strictJSON(b, (*plain)(a), "address")
}

// Limits of the fields address books and calendars carry.
const (
	maxAddressPart = crm.MaxAddressPart
	maxLongText    = crm.MaxLongText // notes, descriptions
)

// postalAddress checks an address's parts.
func postalAddress(field string, r AddressRequest) (crm.PostalAddress, error) {
	var a crm.PostalAddress
	for _, p := range []struct {
		name string
		in   string
		out  *string
	}{{"street", r.Street, &a.Street}, {"city", r.City, &a.City}, {"region", r.Region, &a.Region},
		{"postal_code", r.PostalCode, &a.PostalCode}, {"country", r.Country, &a.Country}} {
		v, err := text(field+"."+p.name, p.in, false, maxAddressPart)
		if err != nil {
			return a, err
		}
		*p.out = v
	}
	return a, nil
}

// strictJSON decodes the JSON object data into v the way decodeJSON
// decodes a body: an unknown member is refused, and a value at fault is
// named by its path from field ("address.zip", "options.collection").
// Objects nested in a request decode with it in their UnmarshalJSON, so
// that they stay strict inside an Opt, which encoding/json alone is not.
func strictJSON(data []byte, v any, field string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name, _ = strconv.Unquote(name)
		return badRequest(codeUnknownField, field+"."+name, "Unknown field %q in %s. Accepted fields: %s.",
			name, field, strings.Join(jsonFields(reflect.TypeOf(v)), ", "))
	}
	if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) {
		path := field
		if te.Field != "" {
			path += "." + te.Field
		}
		return badRequest(codeInvalidType, path, "%s must be %s, not %s.", path, jsonTypeName(te.Type), describeJSONValue(te.Value))
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	return invalid(field, "%s %s.", field, strings.TrimSuffix(err.Error(), "."))
}

func cleanContact(c crm.Contact) crm.Contact {
	c.Emails = nonNil(c.Emails)
	c.Phones = nonNil(c.Phones)
	c.Categories = nonNil(c.Categories)
	if c.CustomFields == nil {
		c.CustomFields = map[string]string{}
	}
	return c
}

// checkContactIdentity is the rule that a contact must be someone: a
// contact without a name or an email could never be found or linked.
func checkContactIdentity(c *crm.Contact) error {
	if c.FirstName == "" && c.LastName == "" && len(c.Emails) == 0 {
		return required("first_name", "A contact needs at least a first name, a last name or an email.")
	}
	return nil
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req ContactCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	ct := crm.Contact{OrgID: c.Viewer.OrgID, OwnerID: c.User.ID, Lifecycle: crm.LifecycleLead, CustomFields: map[string]string{}}
	var err error
	if ct.FirstName, err = text("first_name", req.FirstName, false, maxName); err != nil {
		return err
	}
	if ct.LastName, err = text("last_name", req.LastName, false, maxName); err != nil {
		return err
	}
	if ct.Emails, err = normEmails("emails", req.Emails); err != nil {
		return err
	}
	if ct.Phones, err = normPhones("phones", req.Phones); err != nil {
		return err
	}
	if err := checkContactIdentity(&ct); err != nil {
		return err
	}
	if req.CompanyID != nil {
		if err := refID("company_id", *req.CompanyID); err != nil {
			return err
		}
		ct.CompanyID = req.CompanyID
	}
	if req.OwnerID != nil {
		if err := refID("owner_id", *req.OwnerID); err != nil {
			return err
		}
		ct.OwnerID = *req.OwnerID
	}
	if req.Lifecycle != "" {
		if err := checkLifecycle(req.Lifecycle); err != nil {
			return err
		}
		ct.Lifecycle = req.Lifecycle
	}
	if ct.Title, err = text("title", req.Title, false, maxName); err != nil {
		return err
	}
	if req.Address != nil {
		if ct.Address, err = postalAddress("address", *req.Address); err != nil {
			return err
		}
	}
	if ct.Notes, err = text("notes", req.Notes, false, maxLongText); err != nil {
		return err
	}
	if ct.Categories, err = normCategories("categories", req.Categories, fixedRefused); err != nil {
		return err
	}
	if err := customFields(req.CustomFields, false); err != nil {
		return err
	}
	for k, v := range req.CustomFields {
		ct.CustomFields[k] = *v
	}
	ct, err = s.st.CreateContact(r.Context(), c.Viewer, ct)
	if err != nil {
		return storeError(err, "contact")
	}
	s.relink(r, c.Viewer.OrgID, crm.LinkContact, ct.ID)
	s.pimChanged(r, c.Viewer.OrgID, ct.OwnerID)
	return created(w, fmt.Sprintf("/api/v1/contacts/%d", ct.ID), cleanContact(ct))
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "contact", s.st.GetContact, plain(cleanContact))
}

func (s *Server) updateContact(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req ContactUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	var first, last, title, notes string
	var emails, phones, categories []string
	var address crm.PostalAddress
	if req.FirstName.Set {
		v, err := req.FirstName.value("first_name", `send "" to remove the first name.`)
		if err != nil {
			return err
		}
		if first, err = text("first_name", v, false, maxName); err != nil {
			return err
		}
	}
	if req.LastName.Set {
		v, err := req.LastName.value("last_name", `send "" to remove the last name.`)
		if err != nil {
			return err
		}
		if last, err = text("last_name", v, false, maxName); err != nil {
			return err
		}
	}
	if req.Emails.Set {
		v, err := req.Emails.value("emails", "send [] to remove every email.")
		if err != nil {
			return err
		}
		if emails, err = normEmails("emails", v); err != nil {
			return err
		}
	}
	if req.Phones.Set {
		v, err := req.Phones.value("phones", "send [] to remove every phone number.")
		if err != nil {
			return err
		}
		if phones, err = normPhones("phones", v); err != nil {
			return err
		}
	}
	if req.CompanyID.Set && !req.CompanyID.Null {
		if err := refID("company_id", req.CompanyID.Value); err != nil {
			return err
		}
	}
	if req.OwnerID.Set {
		v, err := req.OwnerID.value("owner_id", "every contact has an owner; give the id of the new one.")
		if err != nil {
			return err
		}
		if err := refID("owner_id", v); err != nil {
			return err
		}
	}
	if req.Lifecycle.Set {
		v, err := req.Lifecycle.value("lifecycle", "give one of the lifecycle stages.")
		if err != nil {
			return err
		}
		if err := checkLifecycle(v); err != nil {
			return err
		}
	}
	if req.Title.Set {
		v, err := req.Title.value("title", `send "" to remove the title.`)
		if err != nil {
			return err
		}
		if title, err = text("title", v, false, maxName); err != nil {
			return err
		}
	}
	if req.Address.Set && !req.Address.Null {
		if address, err = postalAddress("address", req.Address.Value); err != nil {
			return err
		}
	}
	if req.Notes.Set {
		v, err := req.Notes.value("notes", `send "" to remove the notes.`)
		if err != nil {
			return err
		}
		if notes, err = text("notes", v, false, maxLongText); err != nil {
			return err
		}
	}
	if req.Categories.Set {
		v, err := req.Categories.value("categories", "send [] to remove every category.")
		if err != nil {
			return err
		}
		if categories, err = normCategories("categories", v, fixedRefused); err != nil {
			return err
		}
	}
	if req.CustomFields.Set {
		if err := customFields(req.CustomFields.Value, true); err != nil {
			return err
		}
	}
	ct, err := s.st.UpdateContact(r.Context(), c.Viewer, id, func(ct *crm.Contact) error {
		if req.FirstName.Set {
			ct.FirstName = first
		}
		if req.LastName.Set {
			ct.LastName = last
		}
		if req.Emails.Set {
			ct.Emails = emails
		}
		if req.Phones.Set {
			ct.Phones = phones
		}
		if req.CompanyID.Set {
			if req.CompanyID.Null {
				ct.CompanyID = nil
			} else {
				id := req.CompanyID.Value
				ct.CompanyID = &id
			}
		}
		if req.OwnerID.Set {
			ct.OwnerID = req.OwnerID.Value
		}
		if req.Lifecycle.Set {
			ct.Lifecycle = req.Lifecycle.Value
		}
		if req.Title.Set {
			ct.Title = title
		}
		if req.Address.Set {
			ct.Address = address // the zero address when null
		}
		if req.Notes.Set {
			ct.Notes = notes
		}
		if req.Categories.Set {
			ct.Categories = categories
		}
		if req.CustomFields.Set {
			ct.CustomFields = mergeCustomFields(ct.CustomFields, req.CustomFields.Value, req.CustomFields.Null)
		}
		return checkContactIdentity(ct)
	})
	if err != nil {
		return storeError(err, "contact")
	}
	s.relink(r, c.Viewer.OrgID, crm.LinkContact, ct.ID)
	s.pimChanged(r, c.Viewer.OrgID, ct.OwnerID)
	writeJSON(w, http.StatusOK, cleanContact(ct))
	return nil
}

// mergeCustomFields applies a JSON merge patch (RFC 7396, section 2) to a
// contact's custom fields.
func mergeCustomFields(cur map[string]string, patch map[string]*string, clearAll bool) map[string]string {
	out := map[string]string{}
	if !clearAll {
		maps.Copy(out, cur)
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

func (s *Server) deleteContact(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.st.DeleteContact(r.Context(), c.Viewer, id); err != nil {
		return storeError(err, "contact")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.ContactFilter{ListParams: lp}
	if q.has("email") {
		e, err := crm.NormalizeEmail(q.str("email"))
		if err != nil {
			return param("email", fmt.Errorf("email=%q %s.", q.str("email"), err))
		}
		f.Email = e
	}
	if f.CompanyID, err = q.id("company_id"); err != nil {
		return err
	}
	if f.OwnerID, err = q.id("owner_id"); err != nil {
		return err
	}
	if q.has("lifecycle") {
		f.Lifecycle = crm.Lifecycle(q.str("lifecycle"))
		if err := checkLifecycle(f.Lifecycle); err != nil {
			return param("lifecycle", err)
		}
	}
	page, err := s.st.ListContacts(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "contact")
	}
	return writeList(w, page, cleanContact)
}
