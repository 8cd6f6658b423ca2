package api

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzDecodeJSON checks that the strict decoder never panics and refuses
// every body it does not accept with one of our errors, naming a field
// only when it can.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, `{"first_name":"x"}`, `{"first_name":null}`, `{"emails":["a@b.c",1]}`, `{"custom_fields":{"a":null,"b":2}}`,
		`{"company_id":1.5}`, `{"First_Name":"x"}`, `{"x":1}`, `{"a":1,}`, `[1]`, `null`, ``, `{"emails":"x"}`, `{} {}`,
		`{"first_name":"x","first_name":"y"}`, `{"custom_fields":[]}`, "{\"first_name\":\"\xff\"}",
	} {
		f.Add(seed)
	}
	s := New(Config{})
	f.Fuzz(func(t *testing.T, body string) {
		for _, dst := range []any{&ContactUpdateRequest{}, &OpportunityCreationRequest{}} {
			r := httptest.NewRequest("POST", "/", strings.NewReader(body))
			err := s.decodeJSON(httptest.NewRecorder(), r, dst)
			if err == nil {
				continue
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status > 499 || ae.Code == "" || ae.Message == "" {
				t.Fatalf("body %q: error %v is not a client error of ours", body, err)
			}
		}
	})
}
