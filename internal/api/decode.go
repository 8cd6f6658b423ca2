package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Opt is a field of a partial update (PATCH). It tells the three cases a
// client can mean apart: absent (leave the value alone), null (clear it,
// where clearing makes sense) and a value.
type Opt[T any] struct {
	Set   bool // the field was present in the request
	Null  bool // it was present as null
	Value T
}

// UnmarshalJSON is only called for fields present in the document, so Set
// is true exactly when the client sent the field.
func (o *Opt[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if string(b) == "null" {
		var zero T
		o.Null, o.Value = true, zero
		return nil
	}
	o.Null = false
	return json.Unmarshal(b, &o.Value)
}

// value returns the value of a field that may not be null. A null is
// refused with a message naming the field.
func (o Opt[T]) value(field, hint string) (T, error) {
	if o.Null {
		return o.Value, invalid(field, "%s cannot be null; %s", field, hint)
	}
	return o.Value, nil
}

// decodeJSON reads the request body into dst strictly: a JSON object, one
// value only, no unknown or mis-cased field, every value of the right type,
// within the size limit. Each way of failing gives its own error code and,
// where there is one, the field at fault.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
			return &Error{Status: http.StatusUnsupportedMediaType, Code: codeUnsupportedMedia,
				Message: fmt.Sprintf("The request body must be JSON; send it with Content-Type: application/json (got %q).", ct)}
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Code: codeBodyTooLarge,
				Message: fmt.Sprintf("The request body is larger than the %s limit. Send less data per request.", byteSize(mbe.Limit))}
		}
		return fmt.Errorf("api: reading request body: %w", err)
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return badRequest(codeMalformedJSON, "", "The request body is empty. Send a JSON object.")
	}
	if trimmed[0] != '{' {
		if !json.Valid(trimmed) {
			return syntaxError(body)
		}
		return badRequest(codeInvalidType, "", "The request body must be a JSON object ({…}).")
	}

	// encoding/json matches names case-insensitively and keeps the last of
	// duplicate keys; an API that says "snake_case" should not quietly
	// accept "First_Name" or two values for one field. Checking the keys
	// first also names an unknown field without parsing error strings.
	if err := checkKeys(body, dst); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(body, dst, err)
	}
	if rest := bytes.TrimSpace(body[dec.InputOffset():]); len(rest) > 0 {
		return badRequest(codeMalformedJSON, "", "Unexpected data after the JSON object at byte offset %d. Send exactly one JSON object.", dec.InputOffset())
	}
	return nil
}

// syntaxError reports where a body stops being JSON.
func syntaxError(body []byte) error {
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badRequest(codeMalformedJSON, "", "The request body is not valid JSON: %s at byte offset %d.", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	}
	return badRequest(codeMalformedJSON, "", "The request body is not valid JSON: it ends before the value is complete.")
}

// decodeError turns an encoding/json error into an API error.
func decodeError(body []byte, dst any, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return syntaxError(body)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return unknownField(name, dst)
	case errors.As(err, &te):
		// encoding/json names the struct field but not the array index or
		// map key, and nothing at all from inside Opt's UnmarshalJSON:
		// find the value by decoding each member alone.
		field := te.Field
		if f, ferr := failingField(body, dst); ferr != nil {
			field = f
			errors.As(ferr, &te)
		}
		return badRequest(codeInvalidType, field, "%s must be %s, not %s.", fieldLabel(field), jsonTypeName(te.Type), describeJSONValue(te.Value))
	}
	// Anything else came from a field's own UnmarshalJSON (an amount that
	// is not a number…): it is about the value, not the syntax.
	field, ferr := failingField(body, dst)
	if ferr != nil {
		err = ferr
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.As(err, &te) {
		return badRequest(codeInvalidType, field, "%s must be %s, not %s.", fieldLabel(field), jsonTypeName(te.Type), describeJSONValue(te.Value))
	}
	return invalid(field, "%s %s.", fieldLabel(field), strings.TrimSuffix(err.Error(), "."))
}

func fieldLabel(field string) string {
	if field == "" {
		return "The value"
	}
	return field
}

func unknownField(name string, dst any) *Error {
	names := jsonFields(reflect.TypeOf(dst))
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return badRequest(codeUnknownField, name, "Unknown field %q: field names are case-sensitive; did you mean %q?", name, n)
		}
	}
	return badRequest(codeUnknownField, name, "Unknown field %q. Accepted fields: %s.", name, strings.Join(names, ", "))
}

// jsonFields lists the JSON names of a request struct's fields.
func jsonFields(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		names = append(names, name)
	}
	return names
}

// structField finds the field of t whose JSON name is exactly name.
func structField(t reflect.Type, name string) (reflect.StructField, bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for f := range t.Fields() {
		n, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if n == name && f.IsExported() {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// checkKeys refuses keys that encoding/json accepted only by folding case,
// and keys given twice.
func checkKeys(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return syntaxError(body)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(body)
		}
		key, _ := tok.(string)
		if _, ok := structField(reflect.TypeOf(dst), key); !ok {
			return unknownField(key, dst)
		}
		if seen[key] {
			return badRequest(codeMalformedJSON, key, "The field %q appears more than once. Send each field once.", key)
		}
		seen[key] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return syntaxError(body)
		}
	}
	return nil
}

// failingField decodes each member of the body alone into its field to find
// the one whose value was refused; it returns the path to the value at
// fault ("emails[1]", "custom_fields.tier") and that value's own error.
// Members are tried in document order.
func failingField(body []byte, dst any) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return "", nil
	}
	t := reflect.TypeOf(dst)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", nil
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return "", nil
		}
		f, ok := structField(t, key)
		if !ok {
			continue
		}
		if path, err := locate(raw, f.Type, key); err != nil {
			return path, err
		}
	}
	return "", nil
}

// locate decodes raw into a value of type t and, if that fails, descends
// into arrays and objects to name the innermost value at fault.
func locate(raw json.RawMessage, t reflect.Type, path string) (string, error) {
	err := json.Unmarshal(raw, reflect.New(t).Interface())
	if err == nil {
		return "", nil
	}
	if inner, ok := optValueType(t); ok {
		t = inner
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return path, err // a type of its own, like crm.Decimal: the value is at fault as a whole
	}
	switch t.Kind() {
	case reflect.Slice:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for i, it := range items {
				if p, e := locate(it, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); e != nil {
					return p, e
				}
			}
		}
	case reflect.Map:
		dec := json.NewDecoder(bytes.NewReader(raw))
		if tok, _ := dec.Token(); tok == json.Delim('{') {
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					break
				}
				key, _ := tok.(string)
				var v json.RawMessage
				if dec.Decode(&v) != nil {
					break
				}
				if p, e := locate(v, t.Elem(), path+"."+key); e != nil {
					return p, e
				}
			}
		}
	}
	return path, err
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// optValueType returns T for an Opt[T].
func optValueType(t reflect.Type) (reflect.Type, bool) {
	if t.Kind() != reflect.Struct || t.PkgPath() != optPkgPath || !strings.HasPrefix(t.Name(), "Opt[") {
		return nil, false
	}
	f, ok := t.FieldByName("Value")
	return f.Type, ok
}

var optPkgPath = reflect.TypeFor[Opt[int]]().PkgPath()

// jsonTypeName says, for people, what JSON a Go type takes.
func jsonTypeName(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return jsonTypeName(t.Elem()) + " or null"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonTypeName(t.Elem()), "a "), "an ") + "s"
	case reflect.Map:
		return "an object with " + strings.TrimPrefix(strings.TrimPrefix(jsonTypeName(t.Elem()), "a "), "an ") + " values"
	case reflect.Struct:
		return "an object"
	}
	return "a valid value"
}

// describeJSONValue turns encoding/json's "number -5" or "string" into
// words.
func describeJSONValue(v string) string {
	kind, lit, _ := strings.Cut(v, " ")
	switch kind {
	case "string":
		return "a string"
	case "number":
		if lit != "" {
			return "the number " + lit
		}
		return "a number"
	case "bool":
		return "true or false"
	case "array":
		return "an array"
	case "object":
		return "an object"
	}
	return v
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d-byte", n)
}

// pathID reads a positive integer path parameter.
func pathID(r *http.Request, name string) (int64, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest(codeInvalidID, name, "%q is not a valid id: ids are positive whole numbers, as returned in the id field of a record.", s)
	}
	return id, nil
}

// query reads the query string of a list, refusing any parameter the route
// does not know so that a typo ("lifecyle=lead") is not silently ignored.
type query struct {
	vals url.Values
}

func parseQuery(r *http.Request, allowed []string) (query, error) {
	vals, err := urlQuery(r)
	if err != nil {
		return query{}, err
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			return query{}, badRequest(codeInvalidParameter, k, "Unknown query parameter %q. This list accepts: %s.", k, strings.Join(allowed, ", "))
		}
		if len(vals[k]) > 1 {
			return query{}, badRequest(codeInvalidParameter, k, "The query parameter %q is given %d times; give it once.", k, len(vals[k]))
		}
	}
	return query{vals: vals}, nil
}

func urlQuery(r *http.Request) (url.Values, error) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest(codeInvalidParameter, "", "The query string is malformed (%s). Percent-encode special characters.", err)
	}
	return vals, nil
}

func (q query) str(name string) string {
	if v := q.vals[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (q query) has(name string) bool { return len(q.vals[name]) > 0 }

// id reads an optional positive integer parameter.
func (q query) id(name string) (*int64, error) {
	if !q.has(name) {
		return nil, nil
	}
	s := q.str(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return nil, badRequest(codeInvalidParameter, name, "%s=%q is not a valid id: ids are positive whole numbers.", name, s)
	}
	return &id, nil
}

// limit reads the page size.
func (q query) limit(def, maxLimit int) (int, error) {
	if !q.has("limit") {
		return def, nil
	}
	s := q.str("limit")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, badRequest(codeInvalidParameter, "limit", "limit=%q is not accepted: give a whole number from 1 to %d (default %d).", s, maxLimit, def)
	}
	return n, nil
}
