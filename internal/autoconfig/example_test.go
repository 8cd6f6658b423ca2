package autoconfig_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/crmsync/crmsync/internal/autoconfig"
)

func ExampleDiscoverer_Discover() {
	var d autoconfig.Discoverer // system DNS, guarded HTTP, real probes
	res, err := d.Discover(context.Background(), "Jane Doe <jane@icloud.com>")
	switch {
	case errors.Is(err, autoconfig.ErrInvalidAddress):
		fmt.Println("not an email address")
	case errors.Is(err, autoconfig.ErrNotFound):
		fmt.Println(err) // the client asks for the settings by hand
	case err != nil:
		fmt.Println("error:", err)
	default:
		fmt.Printf("%s (%s): IMAP %s:%d %s as %q, SMTP %s:%d %s as %q; %s\n",
			res.Provider, res.Source,
			res.IMAP.Host, res.IMAP.Port, res.IMAP.Security, res.IMAP.Username,
			res.SMTP.Host, res.SMTP.Port, res.SMTP.Security, res.SMTP.Username, res.Auth)
	}
	// Output: icloud (builtin): IMAP imap.mail.me.com:993 tls as "jane", SMTP smtp.mail.me.com:587 starttls as "jane@icloud.com"; app_password
}
