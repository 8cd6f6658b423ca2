package dropbox_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/crmsync/crmsync/internal/mail/dropbox"
)

// boxes is a Backend over a map: token -> box. A real one looks the token
// up in the store and stores what Deliver reads.
type boxes map[string]dropbox.Box

func (b boxes) Lookup(_ context.Context, token string) (dropbox.Box, error) {
	box, ok := b[token]
	if !ok {
		return dropbox.Box{}, dropbox.ErrNoSuchBox
	}
	return box, nil
}

func (b boxes) Deliver(_ context.Context, box dropbox.Box, env dropbox.Envelope, raw io.Reader) error {
	data, err := io.ReadAll(raw) // to the end, before keeping anything
	if err != nil {
		return err
	}
	first, _, _ := strings.Cut(string(data), "\r\n")
	fmt.Printf("account %d: from %s to %v\n%s\n", box.AccountID, env.MailFrom, env.Recipients, first)
	return nil
}

func Example() {
	srv := dropbox.New(dropbox.Config{Domain: "in.crm.example"}, boxes{
		"k3x9q2v7m4": {AccountID: 7, OwnerAddresses: []string{"ann@example.com"}},
	})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	defer srv.Close()

	c, err := smtp.Dial(l.Addr().String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	msg := "From: Ann <ann@example.com>\r\nSubject: Fwd: quote\r\n\r\nSee below.\r\n"
	err = c.SendMail("ann@example.com", []string{"k3x9q2v7m4+acme@in.crm.example"}, strings.NewReader(msg))
	fmt.Println("sent:", err)
	err = c.SendMail("mallory@evil.example", []string{"k3x9q2v7m4@in.crm.example"}, strings.NewReader(msg))
	fmt.Println("spoofed:", err)
	// Output:
	// account 7: from ann@example.com to [k3x9q2v7m4+acme@in.crm.example]
	// Received: from localhost ([127.0.0.1])
	// sent: <nil>
	// spoofed: SMTP error 550: This dropbox accepts mail only from its owner's addresses; send or forward from an address of your crmsync account
}
