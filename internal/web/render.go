package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
)

// pages holds one template set per page: the layout, the partials (files
// named _*.html) and the page's own file, which defines "title" and
// "content".
type pages struct {
	set map[string]*template.Template // page name (file name less .html) -> its set
}

var funcs = template.FuncMap{
	// dict builds a map for a partial: {{template "_pager" dict "P" .P "Next" .Data.Next}}.
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, fmt.Errorf("dict: odd number of arguments")
		}
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
	"deref": func(v any) any {
		switch x := v.(type) {
		case *int64:
			if x == nil {
				return int64(0)
			}
			return *x
		case *string:
			if x == nil {
				return ""
			}
			return *x
		case *time.Time:
			if x == nil {
				return time.Time{}
			}
			return *x
		}
		return v
	},
	"langs":   func() []string { return i18n.Langs },
	"isAdmin": func(u crm.User) bool { return u.Role == crm.RoleAdmin },
}

func mustParse() *pages {
	p, err := parse(templateFiles)
	if err != nil {
		panic(err)
	}
	return p
}

func parse(fsys fs.FS) (*pages, error) {
	names, err := fs.Glob(fsys, "templates/*.html")
	if err != nil {
		return nil, err
	}
	var shared []string
	for _, n := range names {
		if base := path.Base(n); base == "layout.html" || strings.HasPrefix(base, "_") {
			shared = append(shared, n)
		}
	}
	out := &pages{set: map[string]*template.Template{}}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(fsys, append(append([]string{}, shared...), n)...)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		out.set[strings.TrimSuffix(base, ".html")] = t
	}
	return out, nil
}

// View is what every template gets: the page (its user, printer, CSRF
// token) and the handler's data.
type View struct {
	*Page
	Data  any
	Flash string
	Lang  string
	Now   time.Time
}

// Render writes a page with status 200.
func (p *Page) Render(name string, data any) error {
	return p.RenderStatus(http.StatusOK, name, data)
}

// RenderStatus writes a page with a status (422 for a form shown again
// with its errors).
func (p *Page) RenderStatus(status int, name string, data any) error {
	t, ok := p.s.pages.set[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", View{Page: p, Data: data, Flash: p.flash, Lang: p.P.Lang, Now: p.s.cfg.Now()}); err != nil {
		return err
	}
	p.W.Header().Set("Content-Type", "text/html; charset=utf-8")
	p.W.WriteHeader(status)
	_, err := p.W.Write(buf.Bytes())
	return err
}

// RenderPartial writes one template of a page's set alone (a fragment
// that the script swaps in: an account's live state).
func (p *Page) RenderPartial(page, name string, data any) error {
	t, ok := p.s.pages.set[page]
	if !ok {
		return fmt.Errorf("web: no page %q", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, View{Page: p, Data: data, Lang: p.P.Lang, Now: p.s.cfg.Now()}); err != nil {
		return err
	}
	p.W.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err := p.W.Write(buf.Bytes())
	return err
}

type errorData struct {
	Status  int
	Message string
}

func (s *Server) renderError(p *Page, status int, id string) {
	s.renderErrorText(p, status, p.P.T(id))
}

func (s *Server) renderErrorText(p *Page, status int, msg string) {
	if err := p.RenderStatus(status, "error", errorData{Status: status, Message: msg}); err != nil {
		http.Error(p.W, msg, status)
	}
}
