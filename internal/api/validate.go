package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// Limits on what a record may hold: the domain's (crm/validate.go), the
// same for every path a record comes in by.
const (
	maxName             = crm.MaxName
	maxListItems        = crm.MaxListItems
	maxCustomFields     = crm.MaxCustomFields
	maxCustomFieldKey   = crm.MaxCustomFieldKey
	maxCustomFieldValue = crm.MaxCustomFieldValue
	maxQuery            = 200
)

// ruleError turns a rule the request breaks (a crm.FieldError) into the
// API's 422 naming the field; other errors pass unchanged.
func ruleError(err error) error {
	var fe *crm.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Code == crm.CodeRequired {
		return required(fe.Field, "%s", fe.Message)
	}
	return invalid(fe.Field, "%s", fe.Message)
}

// text trims s and checks its length; with mustHave it may not be empty.
func text(field, s string, mustHave bool, maxLen int) (string, error) {
	v, err := crm.Text(field, s, mustHave, maxLen)
	return v, ruleError(err)
}

// normList normalises each item of a list with norm, names the index of a
// bad one ("emails[1]"), and drops duplicates, keeping the first.
func normList(field string, items []string, norm func(string) (string, error)) ([]string, error) {
	v, err := crm.NormList(field, items, norm)
	return v, ruleError(err)
}

func normEmails(field string, items []string) ([]string, error) {
	return normList(field, items, crm.NormalizeEmail)
}

func normDomains(field string, items []string) ([]string, error) {
	return normList(field, items, crm.NormalizeDomain)
}

func normPhones(field string, items []string) ([]string, error) {
	return normList(field, items, crm.NormalizePhone)
}

// refID checks an id given in a body (owner_id, company_id…). Whether it
// names a record the caller may see is the store's to check.
func refID(field string, id int64) error {
	if id <= 0 {
		return invalid(field, "%s must be a positive id, as returned in the id field of a record.", field)
	}
	return nil
}

func refIDs(field string, ids []int64) ([]int64, error) {
	if len(ids) > maxListItems {
		return nil, invalid(field, "%s may hold at most %d ids.", field, maxListItems)
	}
	out := make([]int64, 0, len(ids))
	for i, id := range ids {
		if err := refID(fmt.Sprintf("%s[%d]", field, i), id); err != nil {
			return nil, err
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

// normCurrency accepts an ISO 4217 code in any case, or "" for none.
func normCurrency(s string) (string, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	if s != "" && !currencyRE.MatchString(s) {
		return "", invalid("currency", "currency must be a three-letter ISO 4217 code like EUR or USD, or empty.")
	}
	return s, nil
}

func checkLifecycle(l crm.Lifecycle) error {
	if !l.Valid() {
		return invalid("lifecycle", "lifecycle must be one of %s.", joinQuoted(crm.Lifecycles))
	}
	return nil
}

func checkStatus(st crm.OpportunityStatus) error {
	if !st.Valid() {
		return invalid("status", "status must be one of %s.", joinQuoted([]crm.OpportunityStatus{crm.StatusOpen, crm.StatusWon, crm.StatusLost}))
	}
	return nil
}

func checkRole(r crm.Role) error {
	if !r.Valid() {
		return invalid("role", "role must be one of %s.", joinQuoted([]crm.Role{crm.RoleAdmin, crm.RoleManager, crm.RoleMember}))
	}
	return nil
}

func joinQuoted[T ~string](xs []T) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = `"` + string(x) + `"`
	}
	return strings.Join(q, ", ")
}

// customFields checks a contact's custom fields. In a creation every key
// needs a value; in an update (merge) a null value removes the key.
func customFields(m map[string]*string, merge bool) error {
	if len(m) > maxCustomFields {
		return invalid("custom_fields", "custom_fields may hold at most %d keys.", maxCustomFields)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same key every time
	for _, k := range keys {
		f := "custom_fields." + k
		if strings.TrimSpace(k) == "" || utf8.RuneCountInString(k) > maxCustomFieldKey {
			return invalid(f, "Custom field names must be 1 to %d characters and not blank.", maxCustomFieldKey)
		}
		v := m[k]
		if v == nil {
			if !merge {
				return invalid(f, "%s is null: give a string value, or leave the key out.", f)
			}
			continue
		}
		if utf8.RuneCountInString(*v) > maxCustomFieldValue {
			return invalid(f, "%s must be at most %d characters.", f, maxCustomFieldValue)
		}
	}
	return nil
}

// listRequest reads the query parameters every list has.
func (s *Server) listRequest(r *http.Request) (query, store.ListParams, error) {
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return q, store.ListParams{}, err
	}
	limit, err := q.limit(store.DefaultLimit, store.MaxLimit)
	if err != nil {
		return q, store.ListParams{}, err
	}
	cursor := q.str("cursor")
	if _, err := store.DecodeCursor(cursor); err != nil {
		return q, store.ListParams{}, storeError(store.ErrBadCursor, "")
	}
	text := strings.TrimSpace(q.str("q"))
	if utf8.RuneCountInString(text) > maxQuery {
		return q, store.ListParams{}, badRequest(codeInvalidParameter, "q", "q must be at most %d characters.", maxQuery)
	}
	return q, store.ListParams{Q: text, Limit: limit, Cursor: cursor}, nil
}

// param wraps a validation error of a filter as a bad query parameter.
func param(name string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	var ae *Error
	if errors.As(err, &ae) {
		msg = ae.Message
	}
	return badRequest(codeInvalidParameter, name, "%s", msg)
}
