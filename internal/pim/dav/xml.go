package dav

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/url"
	"strconv"
	"strings"
)

// XML namespaces (RFC 4918 §21, RFC 4791 §5.1, RFC 6352 §5.1, and Apple's
// calendarserver namespace for getctag, which Radicale, SabreDAV, iCloud
// and Google serve).
const (
	nsDAV     = "DAV:"
	nsCalDAV  = "urn:ietf:params:xml:ns:caldav"
	nsCardDAV = "urn:ietf:params:xml:ns:carddav"
	nsCS      = "http://calendarserver.org/ns/"
)

// multistatus is a 207 body (RFC 4918 §14.16), with the sync-token that
// RFC 6578 §6.4 adds.
type multistatus struct {
	Responses []response `xml:"DAV: response"`
	SyncToken string     `xml:"DAV: sync-token"`
}

// response is one DAV:response (RFC 4918 §14.24): either a status for the
// href(s) as a whole, or propstats.
type response struct {
	Hrefs     []string   `xml:"DAV: href"`
	Status    string     `xml:"DAV: status"`
	Propstats []propstat `xml:"DAV: propstat"`
}

type propstat struct {
	Prop   prop   `xml:"DAV: prop"`
	Status string `xml:"DAV: status"`
}

// prop holds every property this package asks for; a response has the
// ones that were asked.
type prop struct {
	ETag         *string      `xml:"DAV: getetag"`
	ContentType  string       `xml:"DAV: getcontenttype"`
	LastModified string       `xml:"DAV: getlastmodified"` // RFC 4918 §15.7, an HTTP date
	DisplayName  string       `xml:"DAV: displayname"`
	ResourceType *elementList `xml:"DAV: resourcetype"`
	SyncToken    string       `xml:"DAV: sync-token"` // RFC 6578 §4
	CTag         string       `xml:"http://calendarserver.org/ns/ getctag"`
	// RFC 3253 §3.1.5
	Reports []elementList `xml:"DAV: supported-report-set>supported-report>report"`
	// RFC 3744 §5.4
	Privileges []elementList `xml:"DAV: current-user-privilege-set>privilege"`
	// RFC 4791 §5.2.3
	Components *struct {
		Comps []struct {
			Name string `xml:"name,attr"`
		} `xml:"urn:ietf:params:xml:ns:caldav comp"`
	} `xml:"urn:ietf:params:xml:ns:caldav supported-calendar-component-set"`
	CurrentUserPrincipal *hrefList `xml:"DAV: current-user-principal"`                         // RFC 5397 §3
	AddressBookHomeSet   *hrefList `xml:"urn:ietf:params:xml:ns:carddav addressbook-home-set"` // RFC 6352 §7.1.1
	CalendarHomeSet      *hrefList `xml:"urn:ietf:params:xml:ns:caldav calendar-home-set"`     // RFC 4791 §6.2.1
	AddressData          *string   `xml:"urn:ietf:params:xml:ns:carddav address-data"`         // RFC 6352 §10.4
	CalendarData         *string   `xml:"urn:ietf:params:xml:ns:caldav calendar-data"`         // RFC 4791 §9.6
}

// elementList is an element whose children matter only by name
// (resourcetype, report, privilege).
type elementList struct {
	Children []struct {
		XMLName xml.Name
	} `xml:",any"`
}

func (l *elementList) has(space, local string) bool {
	if l == nil {
		return false
	}
	for _, c := range l.Children {
		if c.XMLName.Space == space && c.XMLName.Local == local {
			return true
		}
	}
	return false
}

type hrefList struct {
	Hrefs []string `xml:"DAV: href"`
}

// davError is a DAV:error body (RFC 4918 §16): preconditions by name.
type davError struct {
	XMLName    xml.Name `xml:"DAV: error"`
	Conditions []struct {
		XMLName xml.Name
		Hrefs   []string `xml:"DAV: href"`
	} `xml:",any"`
}

// condition returns whether the error names the precondition, and the
// hrefs inside it.
func (e *davError) condition(space, local string) (bool, []string) {
	if e == nil {
		return false, nil
	}
	for _, c := range e.Conditions {
		if c.XMLName.Space == space && c.XMLName.Local == local {
			return true, c.Hrefs
		}
	}
	return false, nil
}

// parseDAVError reads a DAV:error body, or returns nil.
func parseDAVError(body []byte) *davError {
	if !bytes.Contains(body, []byte("error")) {
		return nil
	}
	var e davError
	if err := xml.Unmarshal(body, &e); err != nil {
		return nil
	}
	return &e
}

// decodeMultistatus reads a 207 body. Property values are whatever the
// propstats with a 2xx status say; the others (404 for properties the
// server lacks) are dropped by ok().
func decodeMultistatus(r io.Reader) (*multistatus, error) {
	var ms multistatus
	d := xml.NewDecoder(r)
	// Bodies are UTF-8 in practice; accept a declared charset we can read
	// as such rather than failing on it.
	d.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		switch strings.ToLower(charset) {
		case "utf-8", "utf8", "us-ascii", "ascii":
			return input, nil
		}
		return nil, &unsupportedCharset{charset}
	}
	if err := d.Decode(&ms); err != nil {
		return nil, err
	}
	return &ms, nil
}

type unsupportedCharset struct{ name string }

func (e *unsupportedCharset) Error() string {
	return "unsupported XML charset " + strconv.Quote(e.name)
}

// statusCode is the code of a DAV:status line ("HTTP/1.1 404 Not Found"),
// or 0.
func statusCode(line string) int {
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0
	}
	return n
}

// props merges the properties of the response's 2xx propstats.
func (r *response) props() prop {
	var out prop
	for _, ps := range r.Propstats {
		if c := statusCode(ps.Status); c < 200 || c > 299 {
			continue
		}
		p := ps.Prop
		if p.ETag != nil {
			out.ETag = p.ETag
		}
		if p.ContentType != "" {
			out.ContentType = p.ContentType
		}
		if p.LastModified != "" {
			out.LastModified = p.LastModified
		}
		if p.DisplayName != "" {
			out.DisplayName = p.DisplayName
		}
		if p.ResourceType != nil {
			out.ResourceType = p.ResourceType
		}
		if p.SyncToken != "" {
			out.SyncToken = p.SyncToken
		}
		if p.CTag != "" {
			out.CTag = p.CTag
		}
		out.Reports = append(out.Reports, p.Reports...)
		out.Privileges = append(out.Privileges, p.Privileges...)
		if p.Components != nil {
			out.Components = p.Components
		}
		if p.CurrentUserPrincipal != nil {
			out.CurrentUserPrincipal = p.CurrentUserPrincipal
		}
		if p.AddressBookHomeSet != nil {
			out.AddressBookHomeSet = p.AddressBookHomeSet
		}
		if p.CalendarHomeSet != nil {
			out.CalendarHomeSet = p.CalendarHomeSet
		}
		if p.AddressData != nil {
			out.AddressData = p.AddressData
		}
		if p.CalendarData != nil {
			out.CalendarData = p.CalendarData
		}
	}
	return out
}

// status is the response-level status code, 0 when it has propstats
// instead.
func (r *response) status() int { return statusCode(r.Status) }

// hrefPath turns an href from a response into the unescaped absolute path
// this package uses for hrefs, resolving it against the request URL (an
// href may be a path, a full URL or, rarely, relative; RFC 4918 §8.3).
func hrefPath(base *url.URL, href string) (string, bool) {
	u, err := url.Parse(strings.TrimSpace(href))
	if err != nil {
		return "", false
	}
	p := base.ResolveReference(u).Path
	if p == "" {
		return "", false
	}
	return p, true
}

// escapeHref is the wire form of an href path, for request URLs and XML
// bodies.
func escapeHref(p string) string {
	return (&url.URL{Path: p}).EscapedPath()
}

// sameCollection compares collection hrefs, with or without the trailing
// slash.
func sameCollection(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}

// xmlText escapes s for element content.
func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Request bodies. Prefixes are bound on the root element.
const (
	xmlDecl = `<?xml version="1.0" encoding="utf-8"?>` + "\n"

	// RFC 5397 §3 (current-user-principal).
	propfindPrincipal = xmlDecl + `<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-principal/></D:prop></D:propfind>`

	// RFC 6352 §7.1.1, RFC 4791 §6.2.1: both home sets in one request.
	propfindHomeSets = xmlDecl + `<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav">` +
		`<D:prop><CR:addressbook-home-set/><C:calendar-home-set/></D:prop></D:propfind>`

	// What a collection is and how it can be synced.
	propfindCollection = xmlDecl + `<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/">` +
		`<D:prop><D:resourcetype/><D:displayname/><CS:getctag/><D:sync-token/><D:supported-report-set/>` +
		`<D:current-user-privilege-set/><C:supported-calendar-component-set/></D:prop></D:propfind>`

	// Members and their ETags (RFC 4918 §9.1).
	propfindETags = xmlDecl + `<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/></D:prop></D:propfind>`
)

// syncCollectionBody is the RFC 6578 §3.2 REPORT; an empty token asks for
// the initial full listing (§3.4).
func syncCollectionBody(token string) string {
	return xmlDecl + `<D:sync-collection xmlns:D="DAV:"><D:sync-token>` + xmlText(token) +
		`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`
}

// multigetBody is an addressbook-multiget (RFC 6352 §8.7) or
// calendar-multiget (RFC 4791 §7.9) REPORT for the hrefs.
func multigetBody(typ CollectionType, hrefs []string) string {
	var b strings.Builder
	b.WriteString(xmlDecl)
	if typ == AddressBook {
		b.WriteString(`<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><D:getlastmodified/><CR:address-data/></D:prop>`)
	} else {
		b.WriteString(`<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><D:getlastmodified/><C:calendar-data/></D:prop>`)
	}
	for _, h := range hrefs {
		b.WriteString("<D:href>")
		b.WriteString(xmlText(escapeHref(h)))
		b.WriteString("</D:href>")
	}
	if typ == AddressBook {
		b.WriteString("</CR:addressbook-multiget>")
	} else {
		b.WriteString("</C:calendar-multiget>")
	}
	return b.String()
}
