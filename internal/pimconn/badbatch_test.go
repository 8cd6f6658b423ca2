package pimconn_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// brokenBook is an address book of n cards whose multiget answer is not
// well-formed XML (what Radicale sent for a card with control
// characters); each card read alone is fine, except bad, which fails.
func brokenBook(t *testing.T, n int, bad string) *httptest.Server {
	href := func(i int) string { return fmt.Sprintf("/book/c%02d.vcf", i) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.Method {
		case "PROPFIND":
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:">`)
			for i := range n {
				fmt.Fprintf(w, `<d:response><d:href>%s</d:href><d:propstat><d:prop><d:getetag>"%d"</d:getetag></d:prop>`+
					`<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`, href(i), i)
			}
			io.WriteString(w, `</d:multistatus>`)
		case "REPORT":
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">`+
				`<d:response><d:href>/book/c00.vcf</d:href><d:propstat><d:prop><c:address-data>`+
				"BEGIN:VCARD\r\nFN:\x01\x1b\r\nEND:VCARD</c:address-data></d:prop></d:propstat></d:response></d:multistatus>")
		case http.MethodGet:
			if r.URL.Path == bad {
				w.WriteHeader(http.StatusInternalServerError)
				io.WriteString(w, "cannot serialize")
				return
			}
			var i int
			fmt.Sscanf(strings.TrimPrefix(r.URL.Path, "/book/c"), "%d", &i)
			w.Header().Set("ETag", fmt.Sprintf(`"%d"`, i))
			w.Header().Set("Content-Type", "text/vcard")
			fmt.Fprintf(w, "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u%02d\r\nFN:Person%02d Doe\r\nN:Doe;Person%02d;;;\r\nEMAIL:p%02d@example.com\r\nEND:VCARD\r\n", i, i, i, i)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// One card the server cannot put in a multiget answer does not stop the
// address book (issue 10: 0 of 37 synced): the engine, through the real
// adapter, imports the other 36 and lists the bad one with its href.
func TestBadBatchThroughEngine(t *testing.T) {
	const bad = "/book/c13.vcf"
	srv := brokenBook(t, 37, bad)
	st, _ := storetest.SQLite(t)
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	a, err := st.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: admin.ID, Kind: crm.PIMCardDAV, URL: srv.URL + "/", Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.ClaimLease(ctx, "pim", fmt.Sprint(a.ID), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := st.PutPIMCollection(ctx, l.Fence(), store.PIMCollection{AccountID: a.ID, Href: "/book/", Kind: pim.Contacts, DisplayName: "Contacts"})
	if err != nil {
		t.Fatal(err)
	}
	remote := &pimconn.Remote{Client: &dav.Client{BaseURL: srv.URL + "/", Username: "admin", Password: "x"}, Href: "/book/", Kind: pim.Contacts}
	res, err := engine.Run(ctx, engine.Config{Port: engine.StorePort{Store: st, Fence: l.Fence(), Viewer: v}, Remote: remote,
		Collection: coll, Policy: pim.NewestWins})
	if err != nil {
		t.Fatalf("pass: %v", err)
	}
	if res.Stats.CreatedCRM != 36 || res.Stats.Failed != 1 {
		t.Errorf("stats %+v, want 36 imported and 1 failed", res.Stats)
	}
	cs, err := st.ListContacts(ctx, v, store.ContactFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil || len(cs.Items) != 36 {
		t.Fatalf("%d contacts (%v), want 36", len(cs.Items), err)
	}
	items, err := st.PIMItems(ctx, coll.ID)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range items {
		if m.Href == bad {
			found = true
			if m.CRMID != 0 || !strings.Contains(m.Error, bad) {
				t.Errorf("the bad item's mapping: %+v, want its error to name it", m)
			}
		} else if m.Error != "" {
			t.Errorf("%s: %s", m.Href, m.Error)
		}
	}
	if !found {
		t.Errorf("the bad item %s is not listed", bad)
	}
}
