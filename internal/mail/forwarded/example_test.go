package forwarded_test

import (
	"fmt"

	"github.com/crmsync/crmsync/internal/mail/forwarded"
)

func ExampleExtract() {
	raw := []byte("From: Ann Owner <ann@acme.example>\r\n" +
		"To: k3x9q7vz2m@in.crm.example\r\n" +
		"Subject: FW: Quote for Q2\r\n" +
		"Date: Tue, 3 Mar 2026 09:00:12 +0100\r\n" +
		"\r\n" +
		"For the CRM.\r\n" +
		"\r\n" +
		"________________________________\r\n" +
		"From: Alice Smith <Alice.Smith@client.example.com>\r\n" +
		"Sent: Monday, March 2, 2026 10:15 AM\r\n" +
		"To: Ann Owner <ann@acme.example>; Bob Builder\r\n" +
		"Subject: Quote for Q2\r\n" +
		"\r\n" +
		"Hi Ann, our quote is attached.\r\n")
	res := forwarded.Extract(raw, nil, &forwarded.Options{Dropbox: []string{"k3x9q7vz2m@in.crm.example"}})
	o := res.Original
	fmt.Println(res.Kind, o.From, o.To)
	fmt.Println(o.Date, o.Subject)
	fmt.Printf("%q %q\n", res.Note, o.Text)
	for _, w := range res.Warnings {
		fmt.Println(w)
	}
	// Output:
	// inline [{Alice Smith alice.smith@client.example.com}] [{Ann Owner ann@acme.example} {Bob Builder }]
	// 2026-03-02 10:15:00 +0100 +0100 Quote for Q2
	// "For the CRM." "Hi Ann, our quote is attached."
	// forwarded header: To "Bob Builder" has no email address (Outlook shows only the name of people in its address book); kept the name, which cannot be linked
	// forwarded header: date "Monday, March 2, 2026 10:15 AM" has no time zone; read in +0100
}
