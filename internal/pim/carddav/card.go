package carddav

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-vcard"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// Card is a decoded vCard.
type Card struct {
	// UID is the card's UID, "" when it has none: the engine decides what a
	// card without one is, not the codec.
	UID string
	// Version is the VERSION as written: "3.0" or "4.0", "2.1" for old
	// Outlook exports, "" when missing.
	Version string
	// Fields are the synchronised fields, normalized (Fields.Normalize), so
	// they compare with a base snapshot as they are.
	Fields pim.Fields
	// Modified is REV, in UTC; zero when absent or unparseable, so a
	// conflict falls back on the engine's other clues rather than on a
	// made-up time.
	Modified time.Time
}

// Decode parses one vCard object (a CardDAV address object resource body).
//
// It fails when the body is not one vCard (no BEGIN:VCARD, no END:VCARD,
// a second card, other text around it). Inside the card it is lenient: a
// line it cannot read is ignored (and kept by Encode), a card without UID
// has UID "".
func Decode(data []byte) (Card, error) {
	d, err := lex(data)
	if err != nil {
		return Card{}, fmt.Errorf("carddav: %w", err)
	}
	return d.card(), nil
}

// Property names, as go-vcard spells them.
const (
	keyN        = vcard.FieldName
	keyFN       = vcard.FieldFormattedName
	keyOrg      = vcard.FieldOrganization
	keyTitle    = vcard.FieldTitle
	keyEmail    = vcard.FieldEmail
	keyTel      = vcard.FieldTelephone
	keyAdr      = vcard.FieldAddress
	keyNote     = vcard.FieldNote
	keyCategory = vcard.FieldCategories
	keyUID      = vcard.FieldUID
	keyVersion  = vcard.FieldVersion
	keyRev      = vcard.FieldRevision
	keyKind     = vcard.FieldKind
	keyProdID   = vcard.FieldProductID
	keyShowAs   = "X-ABSHOWAS" // Apple: "COMPANY" for a company's card
)

// top returns the top-level properties named key (upper case), in
// document order.
func (d *document) top(key string) []*prop {
	var out []*prop
	for _, p := range d.props {
		if p.depth == 1 && p.key == key {
			out = append(out, p)
		}
	}
	return out
}

// ranked returns the properties named key in preference order: by rank
// (see rank), then in document order.
func (d *document) ranked(key string) []*prop {
	ps := d.top(key)
	slices.SortStableFunc(ps, func(a, b *prop) int { return a.rank() - b.rank() })
	return ps
}

// first returns the first of the properties named key in preference
// order, or nil.
func (d *document) first(key string) *prop {
	if ps := d.ranked(key); len(ps) > 0 {
		return ps[0]
	}
	return nil
}

// noRank is the rank of a property with no preference.
const noRank = 101

// rank is how preferred p is, 1 (most) to noRank: vCard 4's PREF=1..100,
// and TYPE=pref (vCard 3, Apple, Google, 2.1's bare PREF) as PREF=1.
// Both are honoured in every version, since writers mix them up.
func (p *prop) rank() int {
	r := noRank
	for _, pa := range p.params {
		switch pa.name {
		case vcard.ParamPreferred:
			for _, v := range pa.values {
				if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 1 && n < r {
					r = n
				}
			}
		case vcard.ParamType:
			if slices.Contains(pa.types(), "pref") {
				r = 1
			}
		}
	}
	return min(r, noRank)
}

// str returns p's value as text: transfer encoding undone and unescaped.
func (p *prop) str() string {
	if p == nil {
		return ""
	}
	return unescapeText(p.text())
}

// components returns p's structured value split at ";", each component
// unescaped; at least n of them.
func (p *prop) components(n int) []string {
	var out []string
	if p != nil {
		for _, c := range splitEscaped(p.text(), ';') {
			out = append(out, unescapeText(c))
		}
	}
	for len(out) < n {
		out = append(out, "")
	}
	return out
}

// telValue strips the "tel:" of a vCard 4 TEL;VALUE=uri.
func telValue(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	return s
}

// card maps a document to a Card.
func (d *document) card() Card {
	c := Card{
		UID:     strings.TrimSpace(d.first(keyUID).str()),
		Version: strings.TrimSpace(d.first(keyVersion).str()),
	}
	if rev := d.first(keyRev); rev != nil {
		c.Modified = parseRev(rev.str())
	}
	f := pim.Fields{}
	var emails, phones []string
	for _, p := range d.ranked(keyEmail) {
		emails = append(emails, p.str())
	}
	for _, p := range d.ranked(keyTel) {
		phones = append(phones, telValue(p.str()))
	}
	f[pim.FieldEmails] = pim.ListOf(emails...)
	f[pim.FieldPhones] = pim.ListOf(phones...)
	if org := d.first(keyOrg); org != nil {
		f[pim.FieldCompany] = pim.Str(org.components(1)[0])
	}
	f[pim.FieldTitle] = pim.Str(d.first(keyTitle).str())
	var notes []string
	for _, p := range d.top(keyNote) {
		if n := p.str(); strings.TrimSpace(n) != "" {
			notes = append(notes, n)
		}
	}
	f[pim.FieldNotes] = pim.Str(strings.Join(notes, "\n"))
	var cats []string
	for _, p := range d.top(keyCategory) {
		for _, c := range splitEscaped(p.text(), ',') {
			cats = append(cats, unescapeText(c))
		}
	}
	f[pim.FieldCategories] = pim.SetOf(cats...)
	f[pim.FieldAddress] = pim.Str(addressOf(d.first(keyAdr)))
	f = f.Normalize()
	first, last := d.names(f)
	f[pim.FieldFirstName] = pim.Str(first)
	f[pim.FieldLastName] = pim.Str(last)
	c.Fields = f.Normalize()
	return c
}

// addressOf maps an ADR to crm.PostalAddress.String(): the post office box,
// extended address and street are one street line, as in the CRM, Outlook
// and Google.
func addressOf(adr *prop) string {
	if adr == nil {
		return ""
	}
	c := adr.components(7)
	var street []string
	for _, s := range c[:3] {
		if strings.TrimSpace(s) != "" {
			street = append(street, s)
		}
	}
	return crm.PostalAddress{
		Street:     strings.Join(street, ", "),
		City:       c[3],
		Region:     c[4],
		PostalCode: c[5],
		Country:    c[6],
	}.String()
}

// names returns the first and last name of the card whose other fields
// (normalized) are f: N's given and family names, or, when N has neither,
// a split of FN (the last word is the last name). FN is not split when it
// is not a person's name: a company's card (Apple's X-ABShowAs:COMPANY,
// vCard 4 KIND:org) or an FN that is the company, an email or a phone —
// what Encode writes for a contact without a name, since FN is mandatory.
func (d *document) names(f pim.Fields) (first, last string) {
	n := d.first(keyN).components(2)
	if first, last = norm(pim.FieldFirstName, n[1]), norm(pim.FieldLastName, n[0]); first != "" || last != "" {
		return first, last
	}
	if kind := strings.ToLower(strings.TrimSpace(d.first(keyKind).str())); kind == "org" || kind == "group" {
		return "", ""
	}
	if strings.EqualFold(strings.TrimSpace(d.first(keyShowAs).str()), "COMPANY") {
		return "", ""
	}
	raw := d.first(keyFN).str()
	fn := norm(pim.FieldFirstName, raw)
	if fn == "" || !nameLike(raw, f) {
		return "", ""
	}
	words := strings.Fields(fn)
	if len(words) == 1 {
		return fn, ""
	}
	return strings.Join(words[:len(words)-1], " "), words[len(words)-1]
}

// nameLike reports whether fn (as written) can be a name given f: it is
// not f's company, one of its emails or one of its phones. Each is
// compared in its field's normalization: an email keeps the inner white
// space a name loses.
func nameLike(fn string, f pim.Fields) bool {
	if norm(pim.FieldCompany, fn) == f[pim.FieldCompany].Str {
		return false
	}
	if slices.Contains(f[pim.FieldEmails].List, pim.NormalizeEmail(fn)) {
		return false
	}
	return !slices.Contains(f[pim.FieldPhones].List, pim.NormalizePhone(fn))
}

// norm normalizes one scalar as the engine does for field.
func norm(field, s string) string { return pim.Normalize(field, pim.Str(s)).Str }

// revLayouts are the forms of REV seen in the wild: vCard 4's timestamp,
// vCard 3's ISO 8601 (Apple, Google with fractions), dates alone.
var revLayouts = []string{
	"20060102T150405Z",
	"20060102T150405Z0700",
	"20060102T150405",
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05",
	"20060102",
	"2006-01-02",
}

func parseRev(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, l := range revLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
