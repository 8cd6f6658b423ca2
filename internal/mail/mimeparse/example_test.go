package mimeparse_test

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/crmsync/crmsync/internal/mail/mimeparse"
)

const raw = "From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Juergen@Example.DE>\r\n" +
	"To: Sales <sales@example.com>\r\n" +
	"Subject: Angebot\r\n" +
	"Date: Tue, 5 Mar 2024 10:15:00 +0100\r\n" +
	"Message-ID: <offer-42@example.de>\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p onclick=\"x()\">Anbei das Angebot.</p><script>track()</script>\r\n" +
	"--b\r\n" +
	"Content-Type: application/pdf\r\n" +
	"Content-Disposition: attachment; filename*=utf-8''Angebot%20%C3%BCber%20Preise.pdf\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"JVBERi0xLjQK\r\n" +
	"--b--\r\n"

func ExampleParse() {
	m, kept, err := mimeparse.Parse(strings.NewReader(raw), &mimeparse.Options{KeepAttachmentsUnder: 1 << 20})
	if err != nil { // only a read error of the input
		panic(err)
	}
	fmt.Println(m.From[0].Name, m.From[0].Email, m.MessageID)
	fmt.Printf("%q\n", m.HTML) // sanitized
	fmt.Printf("%q\n", m.Text) // derived from the HTML
	for _, a := range m.Attachments {
		fmt.Println(a.Index, a.Filename, a.ContentType, a.Size)
	}
	fmt.Printf("%q %v\n", kept[0].Data, m.Warnings)
	// Output:
	// Jürgen Müller juergen@example.de offer-42@example.de
	// "<p>Anbei das Angebot.</p>"
	// "Anbei das Angebot."
	// 0 Angebot über Preise.pdf application/pdf 9
	// "%PDF-1.4\n" []
}

func ExampleAttachment() {
	// Later, when the user opens the attachment: fetch the raw message
	// again and stream the attachment out.
	var out bytes.Buffer
	a, err := mimeparse.Attachment(strings.NewReader(raw), 0, &out)
	fmt.Println(a.Filename, a.Size, err, out.String() == "%PDF-1.4\n")
	// Output: Angebot über Preise.pdf 9 <nil> true
}
