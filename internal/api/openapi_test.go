package api_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/api"
)

type oaParam struct {
	Ref      string `json:"$ref"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

type oaOperation struct {
	OperationID string                     `json:"operationId"`
	Parameters  []oaParam                  `json:"parameters"`
	RequestBody *oaRequestBody             `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    *[]map[string][]string     `json:"security"`
}

type oaRequestBody struct {
	Content map[string]struct {
		Schema struct {
			Ref string `json:"$ref"`
		} `json:"schema"`
	} `json:"content"`
}

type oaDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
		Parameters map[string]oaParam `json:"parameters"`
	} `json:"components"`
}

// requestTypes maps each route that takes a body to the Go type it is
// decoded into, so that the documented fields and the accepted ones cannot
// drift apart either.
var requestTypes = map[string]any{
	"POST /graph/notifications":          api.GraphNotifications{},
	"POST /graph/lifecycle":              api.GraphNotifications{},
	"POST /google/notifications":         api.PubSubPush{},
	"POST /api/v1/login":                 api.LoginRequest{},
	"POST /api/v1/me/two_factor/confirm": api.TwoFactorCodeRequest{},
	"POST /api/v1/me/two_factor/disable": api.TwoFactorDisableRequest{},
	"PUT /api/v1/org/sso":                api.SSORequest{},
	"POST /api/v1/users":                 api.UserCreationRequest{},
	"PATCH /api/v1/users/{id}":           api.UserUpdateRequest{},
	"POST /api/v1/users/{id}/tokens":     api.TokenCreationRequest{},
	"POST /api/v1/tokens":                api.TokenCreationRequest{},
	"POST /api/v1/companies":             api.CompanyCreationRequest{},
	"PATCH /api/v1/companies/{id}":       api.CompanyUpdateRequest{},
	"POST /api/v1/contacts":              api.ContactCreationRequest{},
	"PATCH /api/v1/contacts/{id}":        api.ContactUpdateRequest{},
	"POST /api/v1/opportunities":         api.OpportunityCreationRequest{},
	"PATCH /api/v1/opportunities/{id}":   api.OpportunityUpdateRequest{},
	"POST /api/v1/webhooks":              api.WebhookRequest{},
	"PATCH /api/v1/webhooks/{id}":        api.WebhookRequest{},
}

// TestOpenAPIMatchesRoutes checks the hand-written OpenAPI document against
// the server: the same routes both ways, every path parameter declared, the
// same query parameters on lists, the same request fields, every $ref
// resolving, and security matching what the server enforces.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var doc oaDoc
	if err := json.Unmarshal(api.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q", doc.OpenAPI)
	}

	// Every $ref points at something.
	var generic any
	_ = json.Unmarshal(api.OpenAPI(), &generic)
	for _, ref := range regexp.MustCompile(`"\$ref":\s*"([^"]+)"`).FindAllStringSubmatch(string(api.OpenAPI()), -1) {
		if !resolves(generic, ref[1]) {
			t.Errorf("dangling $ref %s", ref[1])
		}
	}

	resolve := func(p oaParam) oaParam {
		if p.Ref != "" {
			name := strings.TrimPrefix(p.Ref, "#/components/parameters/")
			q, ok := doc.Components.Parameters[name]
			if !ok {
				t.Errorf("unknown parameter %s", p.Ref)
			}
			return q
		}
		return p
	}

	documented := map[string]oaOperation{}
	for path, item := range doc.Paths {
		var common []oaParam
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &common); err != nil {
				t.Fatal(err)
			}
		}
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op oaOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			route := strings.ToUpper(method) + " " + path
			op.Parameters = append(slices.Clone(common), op.Parameters...)
			for i := range op.Parameters {
				op.Parameters[i] = resolve(op.Parameters[i])
			}
			documented[route] = op
		}
	}

	routes := b.srv.Routes()
	for _, r := range routes {
		if _, ok := documented[r]; !ok {
			t.Errorf("route %q is not in openapi.json", r)
		}
	}
	for r := range documented {
		if !slices.Contains(routes, r) {
			t.Errorf("openapi.json documents %q, which the server does not serve", r)
		}
	}

	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for route, op := range documented {
		if op.OperationID == "" || len(op.Responses) == 0 {
			t.Errorf("%s: no operationId or responses", route)
		}
		_, path, _ := strings.Cut(route, " ")
		var inPath, declared, query []string
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			inPath = append(inPath, m[1])
		}
		for _, p := range op.Parameters {
			switch p.In {
			case "path":
				if !p.Required {
					t.Errorf("%s: path parameter %s must be required", route, p.Name)
				}
				declared = append(declared, p.Name)
			case "query":
				query = append(query, p.Name)
			}
		}
		sort.Strings(inPath)
		sort.Strings(declared)
		if !slices.Equal(inPath, declared) {
			t.Errorf("%s: path parameters %v, declared %v", route, inPath, declared)
		}
		want := b.srv.QueryParams(route)
		sort.Strings(want)
		sort.Strings(query)
		if !slices.Equal(want, query) {
			t.Errorf("%s: the server accepts query parameters %v, the document lists %v", route, want, query)
		}

		typ, hasType := requestTypes[route]
		switch {
		case op.RequestBody == nil && hasType:
			t.Errorf("%s: takes a body, the document has none", route)
		case op.RequestBody != nil && !hasType:
			t.Errorf("%s: documents a body; add its type to requestTypes", route)
		case op.RequestBody != nil:
			ref := op.RequestBody.Content["application/json"].Schema.Ref
			schema, ok := doc.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")]
			if !ok {
				t.Errorf("%s: request schema %q not found", route, ref)
				break
			}
			var props []string
			for p := range schema.Properties {
				props = append(props, p)
			}
			fields := jsonNames(reflect.TypeOf(typ))
			sort.Strings(props)
			sort.Strings(fields)
			if !slices.Equal(props, fields) {
				t.Errorf("%s: the server accepts fields %v, the document lists %v", route, fields, props)
			}
		}

		// Security as documented is security as enforced.
		public := op.Security != nil && len(*op.Security) == 0
		target := pathParam.ReplaceAllString(path, "1")
		r := b.do(strings.SplitN(route, " ", 2)[0], target, "", nil)
		if public == (r.Status == 401) {
			t.Errorf("%s: documented public=%v, but without a token the server answers %d", route, public, r.Status)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.must(200, "GET", "/api/v1/openapi.json", "", nil)
	if !bytes.Equal(r.Raw, api.OpenAPI()) {
		t.Error("served document differs from the embedded one")
	}
}

func jsonNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// resolves reports whether a local JSON pointer ref (#/a/b) exists in doc.
func resolves(doc any, ref string) bool {
	if !strings.HasPrefix(ref, "#/") {
		return false
	}
	cur := doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")]; !ok {
			return false
		}
	}
	return true
}
