package flows

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/testpeer/radicale"
	"github.com/crmsync/crmsync/internal/webtest"
)

// The address book pages against a real Radicale: connect in Swedish on
// SQLite, listing the server's address books and choosing the second;
// see it synced with its counts; change the same contact's title in the
// CRM (through the API) and on the server, and see the conflict decided
// by the policy chosen ("the server wins"): the history says so, the
// value is the server's on both sides.
func TestPIMAddressBookSwedish(t *testing.T) {
	t.Parallel()
	dav := radicale.Start(t, nil)
	user, pass := dav.User(1)
	private := dav.CreateAddressBook(t, user, "private", "Privat")
	work := dav.CreateAddressBook(t, user, "work", "Jobbkontakter")
	dav.Put(t, user, work+"grace.vcf", graceCard("Rear Admiral"))
	s := webtest.Start(t, webtest.Options{Postgres: false})
	s.MustAPI("POST", "/api/v1/contacts", s.Admin.Token, map[string]any{
		"first_name": "Ada", "last_name": "Lovelace", "emails": []string{"ada@analytical.example"}}, nil)

	b := s.NewBrowser(t, "sv")
	b.SignIn(s.Admin.Email, s.Admin.Password)
	b.WaitText("Välkommen, Ada Admin", 20*time.Second)
	b.Go("/settings/pim")
	b.WaitText("Ingen adressbok eller kalender är ansluten ännu.", 5*time.Second)
	axeClean(t, b)
	b.Select("Typ", "Adressbok (CardDAV)")
	b.Fill("Serverns adress", dav.URL())
	b.Fill("Användarnamn", user)
	b.Fill("Lösenord", pass)
	b.Click("Visa adressböcker och kalendrar")
	b.WaitText("Servern godkände inloggningen.", 15*time.Second)
	b.Select("Adressbok eller kalender", "Jobbkontakter")
	b.Check("Servern vinner", true)
	axeClean(t, b)
	b.Screenshot("pim-connect-sv")
	b.Click("Anslut")
	b.WaitText("Ansluten. crmsync synkroniserar den nu.", 15*time.Second)
	b.WaitText("2 kontakter", 40*time.Second)
	b.WaitText("Synkroniserad", 10*time.Second)
	axeClean(t, b)
	b.Screenshot("pim-account-sv")

	// The chosen address book got the CRM's contact; the other nothing.
	if n := vcards(t, dav, user, private); n != 0 {
		t.Errorf("the address book not chosen holds %d vCards", n)
	}
	if n := vcards(t, dav, user, work); n != 2 {
		t.Errorf("the chosen address book holds %d vCards, want 2", n)
	}
	// The list shows it too, with its state and counts.
	b.Go("/settings/pim")
	b.WaitText("2 kontakter", 10*time.Second)
	if !b.Has("Adressbok (CardDAV)") || !b.Has(user+" @ ") {
		t.Errorf("the list does not show the account:\n%s", b.Text())
	}
	axeClean(t, b)
	b.Screenshot("pim-list-sv")

	id := pimConflict(t, s, dav, user, work, "Commodore", "Admiral")
	b.Go(fmt.Sprintf("/settings/pim/%d", id))
	b.WaitText("Konflikt", 40*time.Second)
	conflictRow := rowWith(b.Text(), "Konflikt")
	if !strings.Contains(conflictRow, "Commodore") || !strings.Contains(conflictRow, "the server") {
		t.Errorf("the conflict entry does not say the server's value was kept: %q", conflictRow)
	}
	waitTitle(t, s, "Commodore")
	waitCard(t, dav, user, work, "TITLE:Commodore")
	b.Screenshot("pim-conflict-sv")
}

// In English on PostgreSQL: a wrong password is refused before anything
// is saved; connected with "the CRM wins", a conflict keeps the CRM's
// value on both sides; the settings change; sync now; remove, confirmed
// in a dialog.
func TestPIMAddressBookEnglish(t *testing.T) {
	t.Parallel()
	dav := radicale.Start(t, nil)
	user, pass := dav.User(1)
	book := dav.CreateAddressBook(t, user, "contacts", "Contacts")
	dav.Put(t, user, book+"grace.vcf", graceCard("Rear Admiral"))
	s := webtest.Start(t, webtest.Options{Postgres: true})
	s.MustAPI("POST", "/api/v1/contacts", s.Admin.Token, map[string]any{
		"first_name": "Ada", "last_name": "Lovelace", "emails": []string{"ada@analytical.example"}}, nil)

	b := s.NewBrowser(t, "en")
	b.SignIn(s.Admin.Email, s.Admin.Password)
	b.WaitText("Welcome, Ada Admin", 20*time.Second)
	b.Go("/settings/pim")
	b.Fill("Server address", dav.URL())
	b.Fill("User name", user)
	b.Fill("Password", "wrong")
	b.Click("Connect")
	b.WaitText("The server refused the user name or password.", 15*time.Second)
	axeClean(t, b)
	var list struct{ Data []any }
	s.MustAPI("GET", "/api/v1/pim-accounts", s.Admin.Token, nil, &list)
	if len(list.Data) != 0 {
		t.Fatalf("a refused login saved an account: %v", list.Data)
	}
	// The form keeps what was typed, but never the password.
	b.Fill("Password", pass)
	b.Check("The CRM wins", true)
	if !b.Has("The CRM's value is kept and overwrites the one on the server.") {
		t.Errorf("the policy is not explained:\n%s", b.Text())
	}
	b.Click("Connect")
	b.WaitText("Connected. crmsync is syncing it now.", 15*time.Second)
	b.WaitText("2 contacts", 40*time.Second)
	b.WaitText("Synced", 10*time.Second)
	axeClean(t, b)

	id := pimConflict(t, s, dav, user, book, "Commodore", "Admiral")
	b.WaitText("Conflict", 40*time.Second)
	conflictRow := rowWith(b.Text(), "Conflict")
	if !strings.Contains(conflictRow, "Admiral") || !strings.Contains(conflictRow, "the CRM") {
		t.Errorf("the conflict entry does not say the CRM's value was kept: %q", conflictRow)
	}
	waitCard(t, dav, user, book, "TITLE:Admiral")
	waitTitle(t, s, "Admiral")
	b.Screenshot("pim-conflict-en")

	// A category crmsync sets itself is refused beside its field.
	b.Fill("Other categories (separated by commas)", "Base Lead")
	b.Click("Save")
	b.WaitText("“Base Lead” is a category crmsync sets itself; it is never imported.", 10*time.Second)
	axeClean(t, b)
	// Settings: another policy and a category filter, as the API shows them.
	b.Check("The newest change wins", true)
	b.Fill("Other categories (separated by commas)", "Customers")
	b.Click("Save")
	b.WaitText("Your changes were saved.", 10*time.Second)
	var acct struct {
		Options struct {
			ConflictPolicy   string   `json:"conflict_policy"`
			ImportCategories []string `json:"import_categories"`
		}
		Warnings []string
	}
	s.MustAPI("GET", fmt.Sprintf("/api/v1/pim-accounts/%d", id), s.Admin.Token, nil, &acct)
	if acct.Options.ConflictPolicy != "newest_wins" || strings.Join(acct.Options.ImportCategories, ",") != "Customers" {
		t.Errorf("saved options: %+v", acct.Options)
	}
	b.Click("Sync now")
	b.WaitText("A sync was asked for", 10*time.Second)
	// The warning the API gives (no item in that category) is on the page.
	b.WaitText(`No item on the server is in the category "Customers"`, 40*time.Second)

	b.Click("Remove…")
	b.WaitText("Nothing is deleted on the server", 5*time.Second)
	axeClean(t, b)
	b.Screenshot("pim-remove-en")
	b.Click("Yes, remove")
	b.WaitText("Removed.", 10*time.Second)
	b.WaitText("No address book or calendar is connected yet.", 5*time.Second)
	if code, _ := s.API("GET", fmt.Sprintf("/api/v1/pim-accounts/%d", id), s.Admin.Token, nil, nil); code != http.StatusNotFound {
		t.Errorf("after removing, the account answers %d", code)
	}
	if n := vcards(t, dav, user, book); n != 2 {
		t.Errorf("removing deleted on the server: %d vCards left", n)
	}
}

// A calendar in French on SQLite: the server's calendars and task lists
// are listed to choose from, and only the events of the categories
// chosen are synced (with the tasks of the task list chosen).
func TestPIMCalendarFrench(t *testing.T) {
	t.Parallel()
	dav := radicale.Start(t, nil)
	user, pass := dav.User(1)
	dav.CreateCalendar(t, user, "perso", "Agenda perso", "VEVENT")
	work := dav.CreateCalendar(t, user, "travail", "Agenda pro", "VEVENT", "VTODO")
	dav.Put(t, user, work+"a.ics", ical("VEVENT", "ev-a", "Réunion client", "Travail"))
	dav.Put(t, user, work+"b.ics", ical("VEVENT", "ev-b", "Dentiste", "Perso"))
	dav.Put(t, user, work+"t.ics", ical("VTODO", "todo-1", "Envoyer le devis", ""))
	s := webtest.Start(t, webtest.Options{Postgres: false})

	b := s.NewBrowser(t, "fr")
	b.SignIn(s.Admin.Email, s.Admin.Password)
	b.WaitText("Bienvenue, Ada Admin", 20*time.Second)
	b.Go("/settings/pim")
	b.Select("Type", "Agenda (CalDAV)")
	b.Fill("Adresse du serveur", dav.URL())
	b.Fill("Nom d'utilisateur", user)
	b.Fill("Mot de passe", pass)
	b.Click("Lister les carnets d'adresses et agendas")
	b.WaitText("Le serveur a accepté la connexion.", 15*time.Second)
	b.Select("Carnet d'adresses ou agenda", "Agenda pro")
	b.Select("Liste de tâches", "Agenda pro")
	b.Fill("Catégories des événements à synchroniser", "Travail")
	axeClean(t, b)
	b.Click("Connecter")
	b.WaitText("Connecté. crmsync le synchronise maintenant.", 15*time.Second)
	b.WaitText("1 événement", 40*time.Second)
	b.WaitText("1 tâche", 10*time.Second)
	axeClean(t, b)
	b.Screenshot("pim-calendar-fr")
	var events struct{ Data []struct{ Summary string } }
	s.MustAPI("GET", "/api/v1/events", s.Admin.Token, nil, &events)
	if len(events.Data) != 1 || events.Data[0].Summary != "Réunion client" {
		t.Errorf("events in the CRM: %+v", events.Data)
	}
	var acct struct {
		Options struct {
			Collection      string   `json:"collection"`
			TaskCollection  string   `json:"task_collection"`
			EventCategories []string `json:"event_categories"`
		}
	}
	var list struct{ Data []struct{ ID int64 } }
	s.MustAPI("GET", "/api/v1/pim-accounts", s.Admin.Token, nil, &list)
	if len(list.Data) != 1 {
		t.Fatalf("accounts: %+v", list)
	}
	s.MustAPI("GET", fmt.Sprintf("/api/v1/pim-accounts/%d", list.Data[0].ID), s.Admin.Token, nil, &acct)
	if acct.Options.Collection != work || acct.Options.TaskCollection != work || strings.Join(acct.Options.EventCategories, ",") != "Travail" {
		t.Errorf("options: %+v", acct.Options)
	}
}

// ical is an iCalendar object of one component (VEVENT or VTODO).
func ical(comp, uid, summary, category string) string {
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmsync test//EN\r\nBEGIN:" + comp + "\r\nUID:" + uid + "\r\nDTSTAMP:20261201T100000Z\r\n")
	if comp == "VEVENT" {
		b.WriteString("DTSTART:20261215T100000Z\r\nDTEND:20261215T110000Z\r\n")
	}
	b.WriteString("SUMMARY:" + summary + "\r\n")
	if category != "" {
		b.WriteString("CATEGORIES:" + category + "\r\n")
	}
	b.WriteString("END:" + comp + "\r\nEND:VCALENDAR\r\n")
	return b.String()
}

func axeClean(t *testing.T, b *webtest.Browser) {
	t.Helper()
	if v := b.Axe(); len(v) > 0 {
		t.Errorf("accessibility (%s): %+v", b.URL(), v)
	}
}

func graceCard(title string) string {
	return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:grace\r\nFN:Grace Hopper\r\nN:Hopper;Grace;;;\r\n" +
		"EMAIL:grace@navy.example\r\nTITLE:" + title + "\r\nEND:VCARD\r\n"
}

// vcards counts the vCards of an address book.
func vcards(t *testing.T, dav *radicale.Server, user, book string) int {
	t.Helper()
	r := dav.Request(t, user, "PROPFIND", book, http.Header{"Depth": {"1"}}, "")
	return strings.Count(string(r.Body), ".vcf</")
}

// pimConflict changes Grace's title on the server to remote, then in the
// CRM to local through the API (which wakes the account's loop: its pass
// sees both changes), and returns the admin's PIM account id.
func pimConflict(t *testing.T, s *webtest.Stack, dav *radicale.Server, user, book, remote, local string) int64 {
	t.Helper()
	var contacts struct {
		Data []struct {
			ID    int64
			Title string
		}
	}
	s.MustAPI("GET", "/api/v1/contacts?q=Grace", s.Admin.Token, nil, &contacts)
	if len(contacts.Data) != 1 {
		t.Fatalf("Grace was not imported: %+v", contacts)
	}
	body, _ := dav.Get(t, user, book+"grace.vcf")
	if !strings.Contains(body, "TITLE:Rear Admiral") {
		t.Fatalf("Grace's vCard on the server:\n%s", body)
	}
	dav.Put(t, user, book+"grace.vcf", strings.Replace(body, "TITLE:Rear Admiral", "TITLE:"+remote, 1))
	s.MustAPI("PATCH", fmt.Sprintf("/api/v1/contacts/%d", contacts.Data[0].ID), s.Admin.Token, map[string]any{"title": local}, nil)
	var accts struct{ Data []struct{ ID int64 } }
	s.MustAPI("GET", "/api/v1/pim-accounts", s.Admin.Token, nil, &accts)
	if len(accts.Data) != 1 {
		t.Fatalf("PIM accounts: %+v", accts)
	}
	return accts.Data[0].ID
}

// waitTitle waits until Grace's title in the CRM is want.
func waitTitle(t *testing.T, s *webtest.Stack, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var contacts struct{ Data []struct{ Title string } }
		s.MustAPI("GET", "/api/v1/contacts?q=Grace", s.Admin.Token, nil, &contacts)
		if len(contacts.Data) == 1 && contacts.Data[0].Title == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Grace's title in the CRM: %+v, want %q", contacts.Data, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitCard waits until Grace's vCard on the server holds line.
func waitCard(t *testing.T, dav *radicale.Server, user, book, line string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, _ := dav.Get(t, user, book+"grace.vcf")
		if strings.Contains(body, line) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Grace's vCard never held %q:\n%s", line, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rowWith is the line of text (a table row) that holds s.
func rowWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
