package radicale

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Response is what Request got back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// password returns the password of a user made by Start.
func (s *Server) password(t testing.TB, username string) string {
	t.Helper()
	for i := 1; i <= s.users; i++ {
		if name, pass := s.User(i); name == username {
			return pass
		}
	}
	t.Fatalf("radicale: unknown user %q (have user1..user%d)", username, s.users)
	return ""
}

// Request sends one HTTP request as username (Basic auth) and returns the
// answer whatever its status; path is absolute and unescaped
// ("/user1/contacts/a b.vcf"). Only a transport failure fails the test.
func (s *Server) Request(t testing.TB, username, method, path string, header http.Header, body string) *Response {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: s.Addr(), Path: path}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u.String(), rd)
	if err != nil {
		t.Fatalf("radicale: %s %s: %v", method, path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.SetBasicAuth(username, s.password(t, username))
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("radicale: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("radicale: %s %s: reading the answer: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// must is Request that fails the test unless the status is one of ok.
func (s *Server) must(t testing.TB, username, method, path string, header http.Header, body string, ok ...int) *Response {
	t.Helper()
	r := s.Request(t, username, method, path, header, body)
	for _, code := range ok {
		if r.Status == code {
			return r
		}
	}
	t.Fatalf("radicale: %s %s as %s: %d %s\n%s", method, path, username, r.Status, http.StatusText(r.Status), r.Body)
	return nil
}

// CreateAddressBook makes the address book /username/name/ with an
// extended MKCOL (RFC 5689 §5.1, RFC 6352 §6.3.1) and returns its path.
func (s *Server) CreateAddressBook(t testing.TB, username, name, displayName string) string {
	t.Helper()
	p := collectionPath(username, name)
	body := `<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
<D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype>
<D:displayname>` + html.EscapeString(displayName) + `</D:displayname>
</D:prop></D:set></D:mkcol>`
	s.must(t, username, "MKCOL", p, xmlHeader(), body, http.StatusCreated)
	return p
}

// CreateCalendar makes the calendar /username/name/ with MKCALENDAR
// (RFC 4791 §5.3.1) and returns its path. components ("VEVENT", "VTODO")
// become its supported-calendar-component-set; none means Radicale's
// default, which accepts VEVENT, VTODO and VJOURNAL.
func (s *Server) CreateCalendar(t testing.TB, username, name, displayName string, components ...string) string {
	t.Helper()
	p := collectionPath(username, name)
	var comps strings.Builder
	if len(components) > 0 {
		comps.WriteString("<C:supported-calendar-component-set>")
		for _, c := range components {
			fmt.Fprintf(&comps, `<C:comp name="%s"/>`, html.EscapeString(c))
		}
		comps.WriteString("</C:supported-calendar-component-set>")
	}
	body := `<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>
<D:displayname>` + html.EscapeString(displayName) + `</D:displayname>` + comps.String() + `
</D:prop></D:set></C:mkcalendar>`
	s.must(t, username, "MKCALENDAR", p, xmlHeader(), body, http.StatusCreated)
	return p
}

// Put stores a vCard or iCalendar object at path, unconditionally (a
// careless other client: no If-Match), and returns its new ETag. The
// content type follows the body: text/vcard for BEGIN:VCARD, else
// text/calendar.
func (s *Server) Put(t testing.TB, username, path, body string) (etag string) {
	t.Helper()
	h := http.Header{"Content-Type": {ContentType(body)}}
	r := s.must(t, username, http.MethodPut, path, h, body, http.StatusCreated, http.StatusNoContent, http.StatusOK)
	return r.Header.Get("ETag")
}

// Get returns the object at path as Radicale stores it, and its ETag.
func (s *Server) Get(t testing.TB, username, path string) (body, etag string) {
	t.Helper()
	r := s.must(t, username, http.MethodGet, path, nil, "", http.StatusOK)
	return string(r.Body), r.Header.Get("ETag")
}

// Delete removes the object (or collection) at path, unconditionally.
func (s *Server) Delete(t testing.TB, username, path string) {
	t.Helper()
	s.must(t, username, http.MethodDelete, path, nil, "", http.StatusOK, http.StatusNoContent)
}

// ExpireSyncTokens makes every sync token handed out so far for the
// collection at path invalid, as Radicale's max_sync_token_age does after
// 30 days: a sync-collection REPORT with one of them is then refused with
// DAV:valid-sync-token. Radicale keeps the collection state behind each
// token in .Radicale.cache/sync-token; this removes them. A token that
// names the collection's current state stays valid (Radicale has nothing
// to report for it): change the collection before or after.
func (s *Server) ExpireSyncTokens(t testing.TB, path string) {
	t.Helper()
	dir := filepath.Join(s.storage, "collection-root", filepath.FromSlash(strings.Trim(path, "/")), ".Radicale.cache", "sync-token")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("radicale: expiring sync tokens of %s: %v", path, err)
	}
}

// ContentType is the media type Put sends for body.
func ContentType(body string) string {
	if strings.HasPrefix(strings.TrimLeft(body, "\ufeff \t\r\n"), "BEGIN:VCARD") {
		return "text/vcard; charset=utf-8"
	}
	return "text/calendar; charset=utf-8"
}

func collectionPath(username, name string) string {
	return "/" + username + "/" + strings.Trim(name, "/") + "/"
}

func xmlHeader() http.Header {
	return http.Header{"Content-Type": {"application/xml; charset=utf-8"}}
}
