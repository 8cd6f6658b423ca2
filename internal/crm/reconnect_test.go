package crm

import (
	"testing"
	"time"
)

func TestReconnects(t *testing.T) {
	imap := &ServerSettings{Host: "imap.acme.example", Port: 993, Security: "tls", Username: "ann"}
	a := MailAccount{CredentialID: "c1", Settings: MailSettings{IMAP: imap}}
	same := a
	same.Settings.IMAP = &ServerSettings{Host: "imap.acme.example", Port: 993, Security: "tls", Username: "ann"} // equal, another pointer
	same.State = StateSynced
	if a.Reconnects(same) {
		t.Error("equal settings behind another pointer, or a state change, restarted the loop")
	}
	for name, change := range map[string]func(*MailAccount){
		"credential": func(b *MailAccount) { b.CredentialID = "c2" },
		"imap port": func(b *MailAccount) {
			b.Settings.IMAP = &ServerSettings{Host: "imap.acme.example", Port: 143, Security: "starttls", Username: "ann"}
		},
		"smtp added":   func(b *MailAccount) { b.Settings.SMTP = &ServerSettings{Host: "smtp.acme.example", Port: 465} },
		"plaintext":    func(b *MailAccount) { b.Settings.AllowPlaintext = true },
		"disconnected": func(b *MailAccount) { now := time.Now(); b.DisconnectedAt = &now },
	} {
		b := a
		change(&b)
		if !a.Reconnects(b) {
			t.Errorf("%s: the loop would go on with old settings", name)
		}
	}
	p := PIMAccount{URL: "https://dav.example/", Username: "ann", Options: PIMOptions{ImportCategories: []string{"A"}}}
	q := p
	q.Options.ImportCategories = []string{"A"}
	if p.Reconnects(q) {
		t.Error("equal PIM options restarted the loop")
	}
	q.Options.ImportCategories = []string{"A", "B"}
	if !p.Reconnects(q) {
		t.Error("a new import category did not restart the PIM loop")
	}
}
