package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/store"
)

// wiredMail and wiredPIM log in with the real connectors (IMAP, CardDAV);
// the rest is the fakes'.
type wiredMail struct {
	*accountstest.Mail
	real *mailconn.Connector
}

func (w wiredMail) Verify(ctx context.Context, s crm.MailSettings, imapPassword, smtpPassword string) error {
	return w.real.Verify(ctx, s, imapPassword, smtpPassword)
}

func (w wiredMail) Probe(ctx context.Context, s crm.MailSettings) error { return w.real.Probe(ctx, s) }

type wiredPIM struct {
	*fakePIM
	real *pimconn.Connector
}

func (w wiredPIM) Verify(ctx context.Context, kind crm.PIMKind, url, username, password string) ([]store.PIMCollection, error) {
	return w.real.Verify(ctx, kind, url, username, password)
}

// TestSameFaultSameCode: a mailbox and an address book whose servers fail
// the same way get the same error code from the API (issue 9: one error
// taxonomy), each message naming the server that failed.
func TestSameFaultSameCode(t *testing.T) {
	t.Parallel()
	p := setupWired(t, testPeers)
	for _, tc := range []struct {
		name string
		code string
		imap func(tag, command string) string // the reply to a command after the greeting
		dav  http.HandlerFunc
	}{{
		name: "wrong password",
		code: "auth_failed",
		imap: func(tag, command string) string {
			if command == "LOGIN" {
				return tag + " NO [AUTHENTICATIONFAILED] Authentication failed."
			}
			return tag + " BAD Unexpected command."
		},
		dav: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Basic realm="dav"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
		},
	}, {
		// A web server, not the IMAP or CardDAV server the user meant.
		name: "not the server it should be",
		code: "protocol",
		imap: nil, // greets like SMTP
		dav: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>It works!</body></html>")
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			imapAddr := scriptedIMAP(t, tc.imap)
			dav := httptest.NewServer(tc.dav)
			t.Cleanup(dav.Close)
			mr := p.call("POST", "/api/v1/mail-accounts", p.annToken, map[string]any{"email": "ann@acme.test", "password": "not-it",
				"imap": map[string]any{"host": "127.0.0.1", "port": imapAddr.Port, "security": "none", "username": "ann"}})
			pr := p.call("POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": dav.URL + "/",
				"username": "ann", "password": "not-it"})
			mcode, _, mmsg := mr.Err()
			pcode, _, pmsg := pr.Err()
			if mr.Status != 422 || mcode != tc.code || pr.Status != 422 || pcode != tc.code {
				t.Fatalf("mail %d %s, PIM %d %s; want 422 %s for both\n%s\n%s", mr.Status, mcode, pr.Status, pcode, tc.code, mr.Raw, pr.Raw)
			}
			t.Logf("mail: %s\n\tPIM: %s", mmsg, pmsg)
			if !strings.Contains(mmsg, imapAddr.String()) || !strings.Contains(pmsg, strings.TrimPrefix(dav.URL, "http://")) {
				t.Errorf("the messages do not name the server:\nmail: %s\nPIM: %s", mmsg, pmsg)
			}
		})
	}
}

// testPeers is the network guard's allowance for the test servers, all on
// loopback: what an operator passes with --private-hosts.
var testPeers = netguard.MustParse("127.0.0.0/8")

// setupWired is setupPIM whose mail and PIM logins go through the real
// connectors, with guard as their network guard.
func setupWired(t *testing.T, guard *netguard.Guard) *pimBundle {
	t.Helper()
	p := setupPIM(t)
	p.srv = api.New(api.Config{
		Store:   p.st,
		Logger:  slog.New(slog.NewJSONHandler(p.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now:     p.clock.Now,
		Mail:    wiredMail{p.fake, &mailconn.Connector{Guard: guard}},
		PIM:     wiredPIM{p.pim, &pimconn.Connector{Guard: guard}},
		WakePIM: p.wake,
	})
	return p
}

// scriptedIMAP listens on loopback and greets each connection as an IMAP
// server, then answers each command line with reply(tag, command). A nil
// reply makes it an SMTP server instead, which an IMAP client cannot read.
func scriptedIMAP(t *testing.T, reply func(tag, command string) string) *net.TCPAddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if reply == nil {
					fmt.Fprint(c, "220 mx.acme.test ESMTP Postfix\r\n")
					io.Copy(io.Discard, c)
					return
				}
				fmt.Fprint(c, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n")
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					tag, rest, _ := strings.Cut(sc.Text(), " ")
					command, _, _ := strings.Cut(rest, " ")
					fmt.Fprint(c, reply(tag, strings.ToUpper(command))+"\r\n")
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr)
}
