package mailgen

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"net/mail"
	"strings"
	"time"
)

// person is a correspondent.
type person struct {
	addr   mail.Address
	domain string
}

// people: display name and the ASCII local part of the address. About a
// third of the names need RFC 2047 encoding.
var (
	names = [][2]string{
		{"James Smith", "james.smith"}, {"Sarah Johnson", "sarah.johnson"}, {"Daniel Brown", "daniel.brown"},
		{"Olivia Wilson", "olivia.wilson"}, {"Michael O'Brien", "michael.obrien"}, {"Emily Clark", "emily.clark"},
		{"Priya Patel", "priya.patel"}, {"Chen Wei", "wei.chen"}, {"Laura Rossi", "laura.rossi"},
		{"Thomas Becker", "thomas.becker"}, {"Anna Nowak", "anna.nowak"}, {"Lucas Martin", "lucas.martin"},
		{"Hannah Fischer", "hannah.fischer"}, {"David Lee", "david.lee"}, {"Karen White", "karen.white"},
		{"Robert Taylor", "robert.taylor"}, {"Sophie Laurent", "sophie.laurent"}, {"Mark Evans", "mark.evans"},
		{"Julia Weber", "julia.weber"}, {"Peter Jansen", "peter.jansen"}, {"Nina Andersen", "nina.andersen"},
		{"Chris Walker", "chris.walker"}, {"Lisa Young", "lisa.young"}, {"Paul Moreau", "paul.moreau"},
		{"José García", "jose.garcia"}, {"François Lefèvre", "francois.lefevre"}, {"Jürgen Müller", "juergen.mueller"},
		{"Zoë Ødegård", "zoe.odegaard"}, {"Łukasz Wróbel", "lukasz.wrobel"}, {"Inés Núñez", "ines.nunez"},
		{"Hélène Côté", "helene.cote"}, {"Søren Kierkegård", "soren.kierkegard"}, {"Jiří Dvořák", "jiri.dvorak"},
		{"Çağla Yılmaz", "cagla.yilmaz"}, {"Nguyễn Văn An", "an.nguyen"}, {"Екатерина Смирнова", "ekaterina.smirnova"},
		{"田中 太郎", "taro.tanaka"}, {"Björn Schäfer", "bjoern.schaefer"},
	}
	companies = []string{
		"acme-widgets.example", "globex.example", "initech.example", "umbrella-logistics.example",
		"baeckerei-schulz.example", "soylent.example", "hooli.example", "vandelay-imports.example",
		"tyrell.example", "wayne-enterprises.example", "stark-industries.example", "cyberdyne.example",
	}
	people = func() []person {
		ps := make([]person, len(names))
		for i, n := range names {
			domain := companies[(i*7)%len(companies)]
			ps[i] = person{addr: mail.Address{Name: n[0], Address: n[1] + "@" + domain}, domain: domain}
		}
		return ps
	}()
	zones = []*time.Location{
		time.UTC,
		time.FixedZone("CET", 1*3600), time.FixedZone("EST", -5*3600),
		time.FixedZone("JST", 9*3600), time.FixedZone("IST", 5*3600+1800),
		time.FixedZone("PDT", -7*3600),
	}
)

var (
	subjects = []string{
		"Quote for %d licences", "Renewal of contract %d", "Invoice %d overdue",
		"Meeting next week about order %d", "Réunion de suivi – dossier %d", "Angebot Nr. %d für Ihr Büro",
		"Propuesta de colaboración %d", "Question about ticket #%d", "Shipping delay for PO-%d",
		"Onboarding call %d", "Price list 2025 (rev %d)", "Ihre Bestellung %d – Lieferschein",
	}
	sentences = []string{
		"Thanks for the quick reply.",
		"Could you send me the updated price list by Friday?",
		"We reviewed the proposal internally and have a few questions.",
		"The delivery arrived yesterday, two boxes were damaged.",
		"Let's schedule a call early next week, Tuesday works for me.",
		"Merci pour votre retour rapide, nous étudions l'offre.",
		"Anbei finden Sie das überarbeitete Angebot.",
		"¿Podemos adelantar la reunión al jueves?",
		"I've copied my colleague who handles invoicing.",
		"Please find attached the signed contract.",
		"Our budget for next quarter was approved.",
		"Can you confirm the number of seats we need?",
		"The invoice still shows the old address — could you fix that?",
		"Wir freuen uns auf die Zusammenarbeit.",
	}
)

func subject(r *rand.Rand) string { return fmt.Sprintf(pick(r, subjects), 1000+r.IntN(9000)) }

func sentence(r *rand.Rand) string { return pick(r, sentences) }

// body is the plain text: greeting, a few sentences, the quoted parent for
// a reply, and a signature. Its first draw from r is its first sentence,
// which replies quote.
func body(r *rand.Rand, m meta, owner *mail.Address) string {
	var s strings.Builder
	first, _, _ := strings.Cut(owner.Name, " ")
	opening := sentence(r) // drawn first: replies quote it
	fmt.Fprintf(&s, "Hi %s,\n\n", first)
	for p := 1 + r.IntN(3); p > 0; p-- {
		para := []string{opening}
		if opening == "" {
			para[0] = sentence(r)
		}
		opening = ""
		for k := r.IntN(4); k > 0; k-- {
			para = append(para, sentence(r))
		}
		s.WriteString(strings.Join(para, " "))
		s.WriteString("\n\n")
	}
	fmt.Fprintf(&s, "Best regards,\n%s\n%s\n", m.from.addr.Name, m.from.domain)
	if m.parent >= 0 {
		fmt.Fprintf(&s, "\nOn %s, %s wrote:\n> %s\n", m.parentDate.Format("Mon, 2 Jan 2006 at 15:04"), m.parentFrom.addr.Name, m.parentQuote)
	}
	return s.String()
}

func toHTML(text string) string {
	var s strings.Builder
	s.WriteString("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n")
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if strings.HasPrefix(para, "On ") && strings.Contains(para, "\n> ") {
			head, quote, _ := strings.Cut(para, "\n> ")
			fmt.Fprintf(&s, "<p>%s</p>\n<blockquote>%s</blockquote>\n", html.EscapeString(head), html.EscapeString(quote))
			continue
		}
		fmt.Fprintf(&s, "<p>%s</p>\n", strings.ReplaceAll(html.EscapeString(para), "\n", "<br>\n"))
	}
	s.WriteString("</body></html>\n")
	return s.String()
}

var attachmentNames = []string{"Angebot_%d.pdf", "invoice-%d.pdf", "Résumé %d.pdf", "contract_%d_signed.pdf", "Übersicht %d.pdf"}

// attachment returns a small PDF (two in three) or PNG.
func attachment(r *rand.Rand) (name, contentType string, data []byte) {
	n := 100 + r.IntN(900)
	if r.IntN(3) < 2 {
		return fmt.Sprintf(pick(r, attachmentNames), n), "application/pdf", pdf(fmt.Sprintf("Document %d", n))
	}
	return fmt.Sprintf("photo_%d.png", n), "image/png", pngImage(r)
}

// pdf makes a valid one-page PDF showing text, with a correct xref table.
func pdf(text string) []byte {
	stream := fmt.Sprintf("BT /F1 24 Tf 72 720 Td (%s) Tj ET", text)
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

// pngImage makes a small striped PNG.
func pngImage(r *rand.Rand) []byte {
	w, h := 16+r.IntN(48), 16+r.IntN(48)
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	c1 := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	c2 := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			if (x/4+y/4)%2 == 0 {
				img.Set(x, y, c1)
			} else {
				img.Set(x, y, c2)
			}
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
