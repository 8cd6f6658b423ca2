package engine_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/pim/pimfake"
	"github.com/crmsync/crmsync/internal/store"
)

// pass runs one pass and returns its result and the messages of the
// history events it recorded.
func (e *env) passWithEvents() (engine.Result, []string) {
	e.T.Helper()
	var msgs []string
	res, err := e.Pass(pim.NewestWins, func(_ context.Context, kind, msg string) { msgs = append(msgs, kind+": "+msg) })
	if err != nil {
		e.T.Fatalf("pass: %v", err)
	}
	return res, msgs
}

// toEvents points e at a new calendar of the account.
func (e *env) toEvents() {
	e.T.Helper()
	const href = "/dav/admin/calendar/"
	coll, err := e.Store.PutPIMCollection(e.Ctx, e.Fence, store.PIMCollection{AccountID: e.AccountID, Href: href, Kind: pim.Events, DisplayName: "Calendar"})
	if err != nil {
		e.T.Fatal(err)
	}
	e.remote = pimfake.New(pim.Events, href, nil)
	e.CollID, e.Remote = coll.ID, e.remote
}

func many(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// TestImportHostileContact: each value the API refuses comes in cut or
// dropped, the rest of the card is stored, and the account's history says
// what was lost.
func TestImportHostileContact(t *testing.T) {
	onBothStores(t, func(e *env) {
		emails := append([]string{"good@acme.example", "not-an-email", "a@b@c", "user@[127.0.0.1]", "a@1.2.3.4"},
			many(5000, func(i int) string { return "p" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "@many.example" })...)
		e.remote.Put("hostile", "uid-hostile", pim.Fields{
			pim.FieldFirstName:  pim.Str(strings.Repeat("N", 100000)),
			pim.FieldLastName:   pim.Str("Doe"),
			pim.FieldEmails:     pim.ListOf(emails...),
			pim.FieldNotes:      pim.Str(strings.Repeat("d", 5<<20)),
			pim.FieldCategories: pim.SetOf(many(5000, func(i int) string { return "cat" + strings.Repeat("c", i%50) + string(rune('a'+i%26)) })...),
		})
		e.remote.Put("fine", "uid-fine", card("Fine", "fine@acme.example"))
		res, msgs := e.passWithEvents()
		if res.Stats.CreatedCRM != 2 || res.Stats.Warned != 1 || len(res.ItemWarnings) != 1 {
			t.Fatalf("stats %+v, warnings %q", res.Stats, res.ItemWarnings)
		}
		var c crm.Contact
		for _, ct := range e.Contacts() {
			if ct.LastName == "Doe" && ct.FirstName != "Fine" {
				c = ct
			}
		}
		if n := len([]rune(c.FirstName)); n != crm.MaxName {
			t.Errorf("first name has %d characters, want %d", n, crm.MaxName)
		}
		if n := len(c.Notes); n != crm.MaxLongText {
			t.Errorf("notes have %d characters, want %d", n, crm.MaxLongText)
		}
		if len(c.Emails) != crm.MaxListItems || c.Emails[0] != "good@acme.example" {
			t.Errorf("%d emails, first %q", len(c.Emails), c.Emails[0])
		}
		for _, bad := range []string{"not-an-email", "a@b@c", "user@[127.0.0.1]", "a@1.2.3.4"} {
			for _, got := range c.Emails {
				if got == bad {
					t.Errorf("%q stored", bad)
				}
			}
		}
		if len(c.Categories) != crm.MaxListItems {
			t.Errorf("%d categories", len(c.Categories))
		}
		w := strings.Join(msgs, "\n")
		for _, want := range []string{"item_warning", "first_name: cut to 200 characters (it had 100000)", `emails[1]: "not-an-email" dropped`, "emails[2]", "emails[3]", "emails[4]"} {
			if !strings.Contains(w, want) {
				t.Errorf("history lacks %q:\n%.2000s", want, w)
			}
		}
		if len(w) > 10000 {
			t.Errorf("history message of %d bytes", len(w))
		}
		// Nothing was written back: the server keeps its card as it is.
		if e.remote.Writes() != 0 {
			t.Errorf("%d writes to the server", e.remote.Writes())
		}
		// A later pass does not warn again.
		if res, _ := e.passWithEvents(); res.Stats.Warned != 0 {
			t.Errorf("second pass: %+v", res.Stats)
		}
	})
}

// TestImportHostileEvent: 10,000 attendees and bad dates are cut or
// dropped; a SECONDLY rule is kept as the server has it, never written
// back, and an event without a valid start (year 0000) is an item error,
// not a pass failure.
func TestImportHostileEvent(t *testing.T) {
	onBothStores(t, func(e *env) {
		e.toEvents()
		att := many(10000, func(i int) string { return "a" + strconv.Itoa(i) + "@x.example" })
		e.remote.Put("crowd", "uid-crowd", pim.Fields{pim.FieldSummary: pim.Str("crowd"), pim.FieldStart: pim.Str("2026-01-01T09:00:00Z"),
			pim.FieldAttendees: pim.SetOf(att...), pim.FieldExDates: pim.SetOf("0000-01-01", "2026-01-08")})
		sec := e.remote.Put("storm", "uid-storm", pim.Fields{pim.FieldSummary: pim.Str("storm"), pim.FieldStart: pim.Str("2026-01-01T09:00:00Z"),
			pim.FieldRRule: pim.Str("FREQ=SECONDLY;COUNT=100000000")})
		e.remote.Put("year0", "uid-year0", pim.Fields{pim.FieldSummary: pim.Str("year0"), pim.FieldStart: pim.Str("0000-01-01T09:00:00Z")})
		res, msgs := e.passWithEvents()
		if res.Stats.CreatedCRM != 2 || res.Stats.Failed != 1 || res.Stats.Warned != 2 {
			t.Fatalf("stats %+v", res.Stats)
		}
		evs, err := e.Store.ListEvents(e.Ctx, e.Viewer, store.EventFilter{ListParams: store.ListParams{Limit: 10}})
		if err != nil {
			t.Fatal(err)
		}
		var storm crm.Event
		for _, ev := range evs.Items {
			switch ev.Summary {
			case "crowd":
				if len(ev.Attendees) != crm.MaxListItems || len(ev.ExDates) != 1 {
					t.Errorf("crowd: %d attendees, exdates %v", len(ev.Attendees), ev.ExDates)
				}
			case "storm":
				storm = ev
			}
		}
		if storm.RRule != "FREQ=SECONDLY;COUNT=100000000" {
			t.Errorf("storm's rule = %q, want it kept", storm.RRule)
		}
		if w := strings.Join(msgs, "\n"); !strings.Contains(w, "attendees: 9900 more dropped") || !strings.Contains(w, "neither expands it nor writes the event back") {
			t.Errorf("history:\n%.3000s", w)
		}
		// A change in the CRM is not written to the server.
		if _, err := e.Store.UpdateEvent(e.Ctx, e.Viewer, storm.ID, func(ev *crm.Event) error { ev.Summary = "renamed"; return nil }); err != nil {
			t.Fatal(err)
		}
		writes := e.remote.Writes()
		res, _ = e.passWithEvents()
		if e.remote.Writes() != writes {
			t.Errorf("the SECONDLY event was written to the server")
		}
		if got := e.remote.Items()[sec].Fields[pim.FieldSummary].Str; got != "storm" {
			t.Errorf("server's summary = %q", got)
		}
		if res.Stats.Warned != 1 {
			t.Errorf("second pass: %+v", res.Stats)
		}
	})
}
