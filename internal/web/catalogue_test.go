package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/i18n"
)

// The message ids the pages ask for by name: in templates
// {{.P.T "id"}}, {{$.P.N "id" n}}, {{.P.Coded "code" …}} (the id
// "code.<code>"); in Go p.P.T("id"), .N("id", n), .Coded("code", …),
// p.Flash("id") and renderError(p, status, "id"). Ids built at run time
// (printf "admin.role.%s") are not seen here. Each match is pairs of
// (kind, id) groups.
var (
	templateIDs = regexp.MustCompile(`\.P\.(T|N|Coded)\s+"([^"]+)"`)
	goIDs       = regexp.MustCompile(`\.(T|N|Flash|Coded)\(\s*"([^"]+)"|(renderError)\([^,]+,[^,]+,\s*"([^"]+)"`)
)

// missingIDs returns the ids re finds in src that the catalogue lacks.
func missingIDs(re *regexp.Regexp, src string) (found int, missing []string) {
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		for i := 1; i+1 < len(m); i += 2 {
			id := m[i+1]
			if id == "" {
				continue
			}
			if m[i] == "Coded" {
				id = "code." + id
			}
			found++
			if strings.HasSuffix(id, ".") {
				// A prefix of ids built at run time ("pim.state." + state):
				// the catalogue has some under it (each built one is
				// checked by its area's own tests).
				if !hasPrefix(id) && !slices.Contains(missing, id) {
					missing = append(missing, id)
				}
				continue
			}
			if !i18n.Has(id) && !slices.Contains(missing, id) {
				missing = append(missing, id)
			}
		}
	}
	return found, missing
}

func hasPrefix(prefix string) bool {
	ids, err := i18n.IDs("en")
	if err != nil {
		return false
	}
	for id := range ids {
		if strings.HasPrefix(id, prefix) {
			return true
		}
	}
	return false
}

// Every message a template or a Go file of the web app asks for by name
// is in the catalogue, so that a page never shows an id instead of words.
func TestEveryMessageIsInTheCatalogue(t *testing.T) {
	total := 0
	err := fs.WalkDir(templateFiles, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := fs.ReadFile(templateFiles, path)
		if err != nil {
			return err
		}
		n, missing := missingIDs(templateIDs, string(src))
		total += n
		for _, id := range missing {
			t.Errorf("%s asks for %q, which the catalogue (internal/i18n/locales) does not have", path, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n, missing := missingIDs(goIDs, string(src))
		total += n
		for _, id := range missing {
			t.Errorf("%s asks for %q, which the catalogue (internal/i18n/locales) does not have", f, id)
		}
	}
	// The scan sees the pages' messages (a pattern that matched nothing
	// would pass for the wrong reason).
	if total < 100 {
		t.Errorf("only %d message ids found in the templates and Go files", total)
	}
}

// The scan catches an id that is missing, in both kinds of file.
func TestTheCatalogueScanFindsAMissingID(t *testing.T) {
	for _, c := range []struct {
		re  *regexp.Regexp
		src string
	}{
		{templateIDs, `<h1>{{.P.T "admin.title"}}</h1><p>{{$.P.N "no.such.message" 3}}</p>`},
		{templateIDs, `{{.P.Coded "unauthorized" "Sign in"}}{{.P.Coded "no.such.message" "x"}}`},
		{goIDs, `p.P.Coded("unauthorized", msg); p.P.Coded("no.such.message", msg)`},
		{goIDs, `p.Flash("admin.users.saved"); x := p.P.T("no.such.message", "Name", n)`},
		{goIDs, `s.renderError(p, http.StatusForbidden, "no.such.message")`},
	} {
		want := "no.such.message"
		if strings.Contains(c.src, "Coded") {
			want = "code.no.such.message"
		}
		if _, missing := missingIDs(c.re, c.src); !slices.Equal(missing, []string{want}) {
			t.Errorf("%s: missing %q, want [%s]", c.src, missing, want)
		}
	}
}
