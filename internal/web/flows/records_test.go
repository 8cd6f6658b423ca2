package flows

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/mail/smtpout/smtptest"
	"github.com/crmsync/crmsync/internal/testpeer/dovecot"
	"github.com/crmsync/crmsync/internal/webtest"
)

// The CRM's records in the browser, against a real Dovecot mailbox synced
// by the binary: a company's email timeline, a message and its
// attachment, a link made and removed by hand, search and paging, another
// organisation's company (404) — in Italian on PostgreSQL; an email
// written from a contact and sent through an SMTP server until the outbox
// says it is sent, tasks and events — in English on SQLite.

// recordsMail is the mailbox the flows sync: mail with Carla of Globex
// (linked by her address and the company's domain) and one with a
// stranger.
func recordsMail() [][]byte {
	msg := func(date, from, to, subject, contentType, body string) []byte {
		return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nDate: " + date +
			"\r\nMessage-ID: <" + strings.ReplaceAll(strings.ToLower(subject), " ", ".") + "@flows.test>\r\nMIME-Version: 1.0\r\n" +
			"Content-Type: " + contentType + "\r\n\r\n" + body)
	}
	return [][]byte{
		msg("Tue, 20 Oct 2026 09:00:00 +0000", "Carla Client <carla@globex.test>", "admin@acme.test", "Globex newsletter",
			"text/html; charset=utf-8",
			`<p>Our <b>news</b>.</p><script>alert("x")</script><img src="https://tracker.example/p.gif" alt="">`+"\r\n"),
		msg("Sun, 01 Nov 2026 10:00:00 +0000", "Carla Client <carla@globex.test>", "Ada Admin <admin@acme.test>", "Order for Q3",
			`multipart/mixed; boundary="b1"`,
			"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease find the order attached.\r\n"+
				"--b1\r\nContent-Type: text/csv; name=\"order.csv\"\r\nContent-Disposition: attachment; filename=\"order.csv\"\r\n\r\nitem,qty\r\nwidget,3\r\n--b1--\r\n"),
		msg("Thu, 05 Nov 2026 08:30:00 +0000", "Ada Admin <admin@acme.test>", "Carla Client <carla@globex.test>", "Re pricing",
			"text/plain; charset=utf-8", "Our prices for next year.\r\n"),
		msg("Fri, 06 Nov 2026 08:30:00 +0000", "Dan <dan@elsewhere.test>", "admin@acme.test", "Unrelated note",
			"text/plain; charset=utf-8", "Nothing to do with Globex.\r\n"),
	}
}

// recordsStack starts Dovecot holding recordsMail, an SMTP server when
// withSMTP, and crmsync trusting Dovecot's certificate; connects the
// admin's mailbox through the API and waits until it is synced.
func recordsStack(t *testing.T, postgres, withSMTP bool) (*webtest.Stack, *smtptest.Server, int64) {
	t.Helper()
	dc := dovecot.Start(t, nil)
	user, pass := dc.User(1)
	dc.BulkLoad(t, user, "INBOX", recordsMail())
	ca := filepath.Join(t.TempDir(), "dovecot-ca.pem")
	if err := os.WriteFile(ca, dc.CACertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	s := webtest.Start(t, webtest.Options{Postgres: postgres, Args: []string{"--mail-ca-file", ca}})
	body := map[string]any{
		"email":    s.Admin.Email, // the profile's address: the one mail is sent from
		"password": pass,
		"imap":     map[string]any{"host": "127.0.0.1", "port": dc.Port, "security": "starttls", "username": user},
	}
	var out *smtptest.Server
	if withSMTP {
		out = smtptest.Start(t, &smtptest.Options{User: "ada.smtp", Password: "smtp-secret"})
		body["smtp"] = map[string]any{"host": out.Host, "port": out.Port, "security": "none", "username": "ada.smtp", "password": "smtp-secret"}
	}
	var acct struct{ ID int64 }
	s.MustAPI("POST", "/api/v1/mail-accounts", s.Admin.Token, body, &acct)
	deadline := time.Now().Add(45 * time.Second)
	for {
		var v struct{ State string }
		s.MustAPI("GET", fmt.Sprintf("/api/v1/mail-accounts/%d", acct.ID), s.Admin.Token, nil, &v)
		if v.State == "synced" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mailbox is %q after 45 s, not synced", v.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return s, out, acct.ID
}

// globex creates Globex (domain globex.test), Carla its contact, an
// opportunity of Globex (its mail links to it by itself) and one of
// nobody's (linked by hand only), through the API; their ids.
func globex(t *testing.T, s *webtest.Stack) (company, contact, side int64) {
	t.Helper()
	var c, p, o struct{ ID int64 }
	s.MustAPI("POST", "/api/v1/companies", s.Admin.Token, map[string]any{"name": "Globex", "domains": []string{"globex.test"}}, &c)
	s.MustAPI("POST", "/api/v1/contacts", s.Admin.Token, map[string]any{"first_name": "Carla", "last_name": "Client",
		"emails": []string{"carla@globex.test"}, "company_id": c.ID}, &p)
	s.MustAPI("POST", "/api/v1/opportunities", s.Admin.Token, map[string]any{"name": "Big Deal", "company_id": c.ID}, nil)
	s.MustAPI("POST", "/api/v1/opportunities", s.Admin.Token, map[string]any{"name": "Side Project"}, &o)
	return c.ID, p.ID, o.ID
}

// messageID finds a stored message by subject through the API.
func messageID(t *testing.T, s *webtest.Stack, subject string) int64 {
	t.Helper()
	var page struct {
		Data []struct {
			ID      int64
			Subject string
		}
	}
	s.MustAPI("GET", "/api/v1/messages?limit=100", s.Admin.Token, nil, &page)
	for _, m := range page.Data {
		if m.Subject == subject {
			return m.ID
		}
	}
	t.Fatalf("no message %q stored", subject)
	return 0
}

// messageLinks are a message's links as the API shows them.
func messageLinks(t *testing.T, s *webtest.Stack, id int64) []string {
	t.Helper()
	var m struct {
		Links []struct {
			Type   string
			ID     int64
			Source string
		}
	}
	s.MustAPI("GET", fmt.Sprintf("/api/v1/messages/%d", id), s.Admin.Token, nil, &m)
	var out []string
	for _, l := range m.Links {
		out = append(out, fmt.Sprintf("%s:%d:%s", l.Type, l.ID, l.Source))
	}
	return out
}

// waitURL waits until the address shows part (a form's GET submitted).
func waitURL(t *testing.T, b *webtest.Browser, part string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(b.URL(), part) {
		if time.Now().After(deadline) {
			t.Fatalf("the address is %s, not with %s", b.URL(), part)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// In Italian, on PostgreSQL: companies searched and paged, Globex's
// timeline newest first, a message opened (sanitized body, attachment),
// linked by hand to an opportunity and unlinked; another organisation's
// company is a 404.
func TestRecordsTimelineAndLinksItalian(t *testing.T) {
	t.Parallel()
	s, _, _ := recordsStack(t, true, false)
	co, _, opp := globex(t, s)
	for i := 1; i <= 30; i++ {
		s.MustAPI("POST", "/api/v1/companies", s.Admin.Token, map[string]any{"name": fmt.Sprintf("Filiale %02d", i)}, nil)
	}

	b := s.NewBrowser(t, "it")
	b.SignIn(s.Admin.Email, s.Admin.Password)
	b.WaitText("Benvenuto, Ada Admin", 10*time.Second)

	// Paging: 31 companies, 25 a page.
	b.Go("/companies")
	b.WaitText("Aziende", 5*time.Second)
	if b.Has("Filiale 30") {
		t.Errorf("the first page shows the 31st company:\n%s", b.Text())
	}
	noAxe(t, b, "/companies")
	b.Screenshot("records-companies-it")
	b.Click("Pagina successiva")
	b.WaitText("Filiale 30", 5*time.Second)
	if b.Has("Globex") || b.Has("Pagina successiva") {
		t.Errorf("the second page:\n%s", b.Text())
	}
	b.Click("Prima pagina")
	b.WaitText("Globex", 5*time.Second)

	// Search.
	b.Fill("Cerca aziende", "globex")
	b.Click("Cerca")
	waitURL(t, b, "q=globex")
	b.WaitText("Globex", 5*time.Second)
	if b.Has("Filiale 01") {
		t.Errorf("searching globex shows another company:\n%s", b.Text())
	}
	b.Fill("Cerca aziende", "nessuna-tale")
	b.Click("Cerca")
	waitURL(t, b, "q=nessuna-tale")
	b.WaitText("Nessun risultato per «nessuna-tale».", 5*time.Second)

	// Globex's timeline, newest first, without the stranger's mail.
	b.Go(fmt.Sprintf("/companies/%d", co))
	b.WaitText("Order for Q3", 10*time.Second)
	text := b.Text()
	iRe, iOrder, iNews := strings.Index(text, "Re pricing"), strings.Index(text, "Order for Q3"), strings.Index(text, "Globex newsletter")
	if iRe < 0 || iNews < 0 || !(iRe < iOrder && iOrder < iNews) {
		t.Errorf("the timeline is not newest first (Re pricing %d, Order %d, newsletter %d):\n%s", iRe, iOrder, iNews, text)
	}
	if strings.Contains(text, "Unrelated note") {
		t.Errorf("the timeline shows mail not linked to Globex:\n%s", text)
	}
	for _, want := range []string{"Carla Client <carla@globex.test>", "1 allegato", "Collegata a:", "Contatto: Carla Client", "Opportunità: Big Deal", "Scrivi un'email"} {
		if !strings.Contains(text, want) {
			t.Errorf("the company page lacks %q:\n%s", want, text)
		}
	}
	noAxe(t, b, "the company page")
	b.Screenshot("records-company-it")

	// The message: headers, body, attachment.
	b.Click("Order for Q3")
	b.WaitText("Please find the order attached.", 5*time.Second)
	for _, want := range []string{"Da", "Carla Client <carla@globex.test>", "Ada Admin <admin@acme.test>", "INBOX", "order.csv", "Schede collegate"} {
		if !b.Has(want) {
			t.Errorf("the message page lacks %q:\n%s", want, b.Text())
		}
	}
	order := messageID(t, s, "Order for Q3")
	got := b.Fetch(fmt.Sprintf("/messages/%d/attachments/0", order))
	if got.Status != 200 || strings.TrimSpace(strings.ReplaceAll(got.Body, "\r\n", "\n")) != "item,qty\nwidget,3" || !strings.Contains(got.Disposition, "order.csv") {
		t.Errorf("the attachment download: %+v", got)
	}
	noAxe(t, b, "the message page")
	b.Screenshot("records-message-it")

	// Linked by hand to an opportunity (Big Deal, Globex's, is linked
	// already, automatically), then unlinked.
	if !b.Has("collegata automaticamente") {
		t.Errorf("the automatic links are not shown:\n%s", b.Text())
	}
	b.Select("Collega a", "Side Project")
	b.Click("Collega")
	b.WaitText("Il messaggio è collegato.", 5*time.Second)
	want := fmt.Sprintf("opportunity:%d:manual", opp)
	if links := messageLinks(t, s, order); !slices.Contains(links, want) {
		t.Fatalf("after linking, the message's links are %v, want %s among them", links, want)
	}
	if !b.Has("collegata a mano") {
		t.Errorf("the manual link is not shown:\n%s", b.Text())
	}
	b.Go(fmt.Sprintf("/opportunities/%d", opp))
	b.WaitText("Order for Q3", 5*time.Second)
	noAxe(t, b, "the opportunity page")
	b.Screenshot("records-opportunity-it")
	b.Go(fmt.Sprintf("/messages/%d", order))
	b.Click("Scollega Side Project")
	b.WaitText("Il collegamento è rimosso", 5*time.Second)
	if links := messageLinks(t, s, order); slices.ContainsFunc(links, func(l string) bool { return strings.HasPrefix(l, fmt.Sprintf("opportunity:%d:", opp)) }) {
		t.Errorf("after unlinking, the message's links are %v", links)
	}
	b.Go(fmt.Sprintf("/opportunities/%d", opp))
	b.WaitText("Nessuna email è ancora collegata a questa scheda.", 5*time.Second)

	// The HTML newsletter: sanitized, its tracking image off.
	b.Go(fmt.Sprintf("/messages/%d", messageID(t, s, "Globex newsletter")))
	b.WaitText("Our news.", 5*time.Second)
	b.WaitText("1 immagine dai server del mittente non è mostrata", 5*time.Second)
	page := b.Fetch(fmt.Sprintf("/messages/%d", messageID(t, s, "Globex newsletter")))
	if strings.Contains(page.Body, "<script>alert") || strings.Contains(page.Body, ` src="https://tracker.example`) {
		t.Errorf("the message page carries the script or the remote image:\n%s", page.Body)
	}

	// Another organisation's company, and a message that does not
	// exist, are pages that do not exist.
	tok, err := s.Run("org", "create", "--name", "Initech", "--admin-email", "bill@initech.test")
	if err != nil {
		t.Fatal(err)
	}
	var other struct{ ID int64 }
	s.MustAPI("POST", "/api/v1/companies", strings.TrimSpace(tok), map[string]any{"name": "Initech Secret"}, &other)
	for _, path := range []string{fmt.Sprintf("/companies/%d", other.ID), "/messages/999999", fmt.Sprintf("/compose?company_id=%d", other.ID)} {
		if got := b.Fetch(path); got.Status != 404 || strings.Contains(got.Body, "Initech") {
			t.Errorf("%s: %d, want 404 without the record", path, got.Status)
		}
	}
	// Nor can a message be linked to it, or unlinked from it.
	for _, path := range []string{fmt.Sprintf("/messages/%d/links", order), fmt.Sprintf("/messages/%d/unlink", order)} {
		if got := b.Post(path, map[string]string{"record": fmt.Sprintf("company:%d", other.ID)}); got.Status != 404 {
			t.Errorf("POST %s of another organisation's company: %d, want 404", path, got.Status)
		}
	}
	b.Go(fmt.Sprintf("/companies/%d", other.ID))
	b.WaitText("Questa pagina non esiste, oppure non hai il permesso di vederla.", 5*time.Second)
	b.Go("/companies?q=Initech")
	b.WaitText("Nessun risultato per «Initech».", 5*time.Second)
}

// In English, on SQLite: an email written from Carla's page goes out
// through the SMTP server and the outbox page says so; one the server
// refuses is said not sent, with the server's reason; the tasks and
// events lists.
func TestRecordsComposeAndSendEnglish(t *testing.T) {
	t.Parallel()
	s, out, acct := recordsStack(t, false, true)
	_, carla, _ := globex(t, s)
	s.MustAPI("POST", "/api/v1/tasks", s.Admin.Token, map[string]any{"summary": "Call Carla back", "due": "2026-12-20"}, nil)
	s.MustAPI("POST", "/api/v1/events", s.Admin.Token, map[string]any{"summary": "Globex review", "start": "2026-12-21T09:00:00Z",
		"end": "2026-12-21T10:00:00Z", "location": "Room 4"}, nil)

	b := s.NewBrowser(t, "en")
	b.SignIn(s.Admin.Email, s.Admin.Password)
	b.WaitText("Welcome, Ada Admin", 10*time.Second)

	b.Go("/contacts")
	b.Fill("Search contacts", "carla")
	b.Click("Search")
	waitURL(t, b, "q=carla")
	b.Click("Carla Client")
	b.WaitText("carla@globex.test", 5*time.Second)
	b.WaitText("Order for Q3", 5*time.Second)
	noAxe(t, b, "the contact page")
	b.Screenshot("records-contact-en")

	b.Click("Write an email")
	b.WaitText("New email", 5*time.Second)
	if !strings.Contains(b.URL(), fmt.Sprintf("/compose?contact_id=%d", carla)) {
		t.Errorf("the compose page is %s", b.URL())
	}
	if !b.Has("It will be linked to Carla Client") {
		t.Errorf("the compose page does not name the record:\n%s", b.Text())
	}
	noAxe(t, b, "the compose page")
	b.Screenshot("records-compose-en")
	// A wrong recipient is said beside the field, and nothing is sent.
	b.Fill("To", "not an address")
	b.Fill("Subject", "Your order")
	b.Fill("Message", "Thank you, Carla.")
	b.Click("Send")
	b.WaitText("Write the recipients as addresses separated by commas", 5*time.Second)
	noAxe(t, b, "the compose page with an error")
	b.Fill("To", "Carla Client <carla@globex.test>")
	b.Click("Send")
	b.WaitText("Sending an email", 5*time.Second)
	b.WaitText("Your mail server accepted the message", 30*time.Second)
	noAxe(t, b, "the outbox page")
	b.Screenshot("records-outbox-en")
	msgs := out.Wait(t, 1, 10*time.Second)
	raw := string(msgs[0].Data)
	if !strings.Contains(raw, "Subject: Your order") || !strings.Contains(raw, "Thank you, Carla.") || !strings.Contains(raw, "admin@acme.test") {
		t.Errorf("the SMTP server received:\n%s", raw)
	}
	if !slices.Contains(msgs[0].To, "carla@globex.test") {
		t.Errorf("sent to %v", msgs[0].To)
	}
	// The outbox as the API sees it: sent, from this mailbox.
	var items struct {
		Data []struct {
			State     string
			AccountID int64 `json:"account_id"`
		}
	}
	s.MustAPI("GET", "/api/v1/outbox", s.Admin.Token, nil, &items)
	if len(items.Data) != 1 || items.Data[0].State != "sent" || items.Data[0].AccountID != acct {
		t.Errorf("the outbox: %+v", items.Data)
	}

	// A recipient the server refuses for good: the outbox says it was not
	// sent, and why.
	out.FailAlways(smtptest.Fault{Step: smtptest.StepRcpt, Rcpt: "nobody@globex.test", Code: 550, Message: "5.1.1 No such mailbox here"})
	b.Go(fmt.Sprintf("/compose?contact_id=%d", carla))
	b.Fill("To", "nobody@globex.test")
	b.Fill("Subject", "Lost")
	b.Fill("Message", "To nobody.")
	b.Click("Send")
	b.WaitText("Not sent", 30*time.Second)
	b.WaitText("No such mailbox here", 5*time.Second)
	noAxe(t, b, "the outbox page of a failed message")

	b.Go("/tasks")
	b.WaitText("Call Carla back", 5*time.Second)
	if !b.Has("To do") {
		t.Errorf("the task's status is not shown:\n%s", b.Text())
	}
	noAxe(t, b, "the tasks page")
	b.Go("/events")
	b.WaitText("Globex review", 5*time.Second)
	if !b.Has("Room 4") {
		t.Errorf("the event's location is not shown:\n%s", b.Text())
	}
	noAxe(t, b, "the events page")
	b.Screenshot("records-events-en")
}
