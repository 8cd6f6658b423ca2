package api

import (
	"context"
	"net/http"

	"github.com/crmsync/crmsync/internal/crm"
)

// What the task and event handlers share. Both are PIM records with a
// summary, a description, categories, an optional contact, an owner and
// custom fields, read, checked and changed alike; what is a task's or an
// event's own stays in tasks.go and events.go. what names the record in
// messages ("task", "event"), as for storeError.

// getRecord answers GET …/{id} with the record as view shows it: every
// record and account the API reads one at a time goes through it.
func getRecord[T, V any](w http.ResponseWriter, r *http.Request, c *caller, what string,
	get func(context.Context, crm.Viewer, int64) (T, error), view func(context.Context, T) (V, error)) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	rec, err := get(r.Context(), c.Viewer, id)
	if err != nil {
		return storeError(err, what)
	}
	v, err := view(r.Context(), rec)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// plain is the view of a record that its cleaning alone makes.
func plain[T any](clean func(T) T) func(context.Context, T) (T, error) {
	return func(_ context.Context, rec T) (T, error) { return clean(rec), nil }
}

// deleteRecord answers DELETE …/{id} with 204 No Content.
func deleteRecord(w http.ResponseWriter, r *http.Request, c *caller, what string,
	del func(context.Context, crm.Viewer, int64) error) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := del(r.Context(), c.Viewer, id); err != nil {
		return storeError(err, what)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ownerContactParams reads the owner_id and contact_id filters of a list.
func ownerContactParams(q query) (ownerID, contactID *int64, err error) {
	if ownerID, err = q.id("owner_id"); err != nil {
		return nil, nil, err
	}
	if contactID, err = q.id("contact_id"); err != nil {
		return nil, nil, err
	}
	return ownerID, contactID, nil
}

// setCreationRefs checks the contact_id and owner_id of a creation and sets
// on the record those given; without owner_id the owner stays the caller.
func setCreationRefs(contactID, ownerID *int64, recContactID **int64, recOwnerID *int64) error {
	if contactID != nil {
		if err := refID("contact_id", *contactID); err != nil {
			return err
		}
		*recContactID = contactID
	}
	if ownerID != nil {
		if err := refID("owner_id", *ownerID); err != nil {
			return err
		}
		*recOwnerID = *ownerID
	}
	return nil
}

// creationCustomFields checks the custom fields of a creation, where every
// key needs a value, and returns them as a record holds them (never nil).
func creationCustomFields(m map[string]*string) (map[string]string, error) {
	if err := customFields(m, false); err != nil {
		return nil, err
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out, nil
}

// patchText checks a text field of a PATCH that may not be null, when it is
// present ("" when absent); hint tells what to send rather than null.
func patchText(o Opt[string], field, hint string, mustHave bool, maxLen int) (string, error) {
	if !o.Set {
		return "", nil
	}
	v, err := o.value(field, hint)
	if err != nil {
		return "", err
	}
	return text(field, v, mustHave, maxLen)
}

// patchCategories checks the categories of a PATCH, when present.
func patchCategories(o Opt[[]string]) ([]string, error) {
	if !o.Set {
		return nil, nil
	}
	v, err := o.value("categories", "send [] to remove every category.")
	if err != nil {
		return nil, err
	}
	return normCategories("categories", v, fixedAllowed)
}

// refsPatch is the part of a PATCH that ties a record to others: its
// contact, its owner and its custom fields. Only the fields present change.
type refsPatch struct {
	ContactID    Opt[int64] // null: no contact
	OwnerID      Opt[int64]
	CustomFields Opt[map[string]*string]
}

// check checks the fields present before the store is asked.
func (p refsPatch) check(what string) error {
	if p.ContactID.Set && !p.ContactID.Null {
		if err := refID("contact_id", p.ContactID.Value); err != nil {
			return err
		}
	}
	if p.OwnerID.Set {
		v, err := p.OwnerID.value("owner_id", "every "+what+" has an owner; give the id of the new one.")
		if err != nil {
			return err
		}
		if err := refID("owner_id", v); err != nil {
			return err
		}
	}
	if p.CustomFields.Set {
		if err := customFields(p.CustomFields.Value, true); err != nil {
			return err
		}
	}
	return nil
}

// apply sets the fields present on the record; custom_fields is merged as
// for contacts.
func (p refsPatch) apply(contactID **int64, ownerID *int64, customFields *map[string]string) {
	if p.ContactID.Set {
		if p.ContactID.Null {
			*contactID = nil
		} else {
			id := p.ContactID.Value
			*contactID = &id
		}
	}
	if p.OwnerID.Set {
		*ownerID = p.OwnerID.Value
	}
	if p.CustomFields.Set {
		*customFields = mergeCustomFields(*customFields, p.CustomFields.Value, p.CustomFields.Null)
	}
}
