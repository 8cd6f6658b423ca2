package dav

import (
	"bytes"
	"net/url"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		" 5 ":                           5 * time.Second,
		"0":                             0,
		"-3":                            0,
		"soon":                          0,
		"Sat, 01 Mar 2025 12:01:30 GMT": 90 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT": 0, // past
		"99999999999":                   7 * 24 * time.Hour,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestHrefPath(t *testing.T) {
	base, _ := url.Parse("https://dav.example.com/dav/user/")
	for href, want := range map[string]string{
		"/dav/user/a%20b.vcf":                        "/dav/user/a b.vcf",
		"https://dav.example.com/dav/user/c%40d.ics": "/dav/user/c@d.ics",
		"e.vcf":               "/dav/user/e.vcf",
		" /x/ ":               "/x/",
		"/dav/%C3%A9t%C3%A9/": "/dav/été/",
	} {
		if got, ok := hrefPath(base, href); !ok || got != want {
			t.Errorf("hrefPath(%q) = %q, %v; want %q", href, got, ok, want)
		}
	}
	if got := escapeHref("/dav/a b/été#1.vcf"); got != "/dav/a%20b/%C3%A9t%C3%A9%231.vcf" {
		t.Errorf("escapeHref: %q", got)
	}
}

// TestMultistatusProps: properties come from 2xx propstats only.
func TestMultistatusProps(t *testing.T) {
	body := `<?xml version="1.0" encoding="utf-8"?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CS="http://calendarserver.org/ns/">
 <response><href>/cal/</href>
  <propstat><prop><resourcetype><collection/><C:calendar/></resourcetype><CS:getctag>7</CS:getctag>
   <C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>
   <supported-report-set><supported-report><report><sync-collection/></report></supported-report></supported-report-set>
   <current-user-privilege-set><privilege><read/></privilege></current-user-privilege-set>
  </prop><status>HTTP/1.1 200 OK</status></propstat>
  <propstat><prop><displayname/><sync-token/></prop><status>HTTP/1.1 404 Not Found</status></propstat>
 </response>
</multistatus>`
	ms, err := decodeMultistatus(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	p := ms.Responses[0].props()
	if !p.ResourceType.has(nsCalDAV, "calendar") || p.CTag != "7" || p.DisplayName != "" || p.SyncToken != "" ||
		len(p.Reports) != 1 || !p.Reports[0].has(nsDAV, "sync-collection") || len(p.Privileges) != 1 ||
		p.Components == nil || len(p.Components.Comps) != 1 {
		t.Errorf("props %+v", p)
	}
}

func FuzzDecodeMultistatus(f *testing.F) {
	f.Add([]byte(`<multistatus xmlns="DAV:"><response><href>/a/</href><status>HTTP/1.1 404 Not Found</status></response><sync-token>x</sync-token></multistatus>`))
	f.Add([]byte(`<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:response><d:href>/a/b.vcf</d:href><d:propstat><d:prop><d:getetag>"1"</d:getetag><c:address-data><![CDATA[BEGIN:VCARD
END:VCARD]]></c:address-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response></d:multistatus>`))
	f.Add([]byte(`<?xml version="1.0" encoding="ISO-8859-1"?><multistatus xmlns="DAV:"/>`))
	f.Add([]byte(`<error xmlns="DAV:"><valid-sync-token/></error>`))
	base, _ := url.Parse("http://h/c/")
	f.Fuzz(func(t *testing.T, data []byte) {
		parseDAVError(data).condition(nsDAV, "valid-sync-token")
		ms, err := decodeMultistatus(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range ms.Responses {
			p := r.props()
			p.ResourceType.has(nsDAV, "collection")
			r.status()
			for _, h := range r.Hrefs {
				if s, ok := hrefPath(base, h); ok && s == "" {
					t.Errorf("hrefPath(%q) ok but empty", h)
				}
			}
		}
	})
}
