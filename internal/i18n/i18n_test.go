package i18n

import (
	"strings"
	"testing"
	"time"
)

// Every language has every message of every area, and nothing more.
func TestEveryLanguageHasEveryMessage(t *testing.T) {
	en, err := IDs("en")
	if err != nil {
		t.Fatal(err)
	}
	if len(en) == 0 {
		t.Fatal("no English messages")
	}
	for _, lang := range Langs[1:] {
		ids, err := IDs(lang)
		if err != nil {
			t.Fatal(err)
		}
		for id := range en {
			if !ids[id] {
				t.Errorf("%s: %q is missing", lang, id)
			}
		}
		for id := range ids {
			if !en[id] {
				t.Errorf("%s: %q is not in English, the source", lang, id)
			}
		}
		if a, b := strings.Join(Areas("en"), ","), strings.Join(Areas(lang), ","); a != b {
			t.Errorf("%s has the files %s, English %s", lang, b, a)
		}
	}
}

func TestNegotiate(t *testing.T) {
	for _, c := range []struct{ chosen, accept, want string }{
		{"", "", "en"},
		{"", "fr-CH, fr;q=0.9, en;q=0.8", "fr"},
		{"", "sv-SE,sv;q=0.9", "sv"},
		{"", "it", "it"},
		{"", "de-DE,de;q=0.9", "en"},
		{"", "de-DE, it;q=0.5", "it"},
		{"sv", "fr", "sv"},
		{"xx", "it", "it"},
		{"", "garbage;;;", "en"},
	} {
		if got := Negotiate(c.chosen, c.accept); got != c.want {
			t.Errorf("Negotiate(%q, %q) = %q, want %q", c.chosen, c.accept, got, c.want)
		}
	}
}

func TestDatesAndNumbers(t *testing.T) {
	at := time.Date(2026, 3, 7, 14, 5, 0, 0, time.UTC)
	for _, c := range []struct{ lang, date, dt, num string }{
		{"en", "Mar 7, 2026", "Mar 7, 2026 at 2:05 PM", "12,345"},
		{"fr", "7 mars 2026", "7 mars 2026 à 14:05", "12\u00a0345"},
		{"sv", "7 mars 2026", "7 mars 2026 kl. 14:05", "12\u00a0345"},
		{"it", "7 mar 2026", "7 mar 2026 alle 14:05", "12.345"},
	} {
		p := For(c.lang)
		if got := p.Date(at); got != c.date {
			t.Errorf("%s date %q, want %q", c.lang, got, c.date)
		}
		if got := p.DateTime(at); got != c.dt {
			t.Errorf("%s datetime %q, want %q", c.lang, got, c.dt)
		}
		if got := p.Number(12345); got != c.num {
			t.Errorf("%s number %q, want %q", c.lang, got, c.num)
		}
	}
	if got := For("fr").T("home.title", "Name", "Ann"); got != "Bienvenue, Ann" {
		t.Errorf("T: %q", got)
	}
	if got := For("en").T("no.such.id"); got != "no.such.id" {
		t.Errorf("a missing id: %q", got)
	}
}
