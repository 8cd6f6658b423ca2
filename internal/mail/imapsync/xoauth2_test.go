package imapsync

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"

	"github.com/crmsync/crmsync/internal/connerr"
)

// The example of https://developers.google.com/gmail/imap/xoauth2-protocol.
const (
	googleExampleUser     = "someuser@example.com"
	googleExampleToken    = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg"
	googleExampleResponse = "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
	// {"status":"401","schemes":"bearer mac","scope":"https://mail.google.com/"}
	googleErrorChallenge = "eyJzdGF0dXMiOiI0MDEiLCJzY2hlbWVzIjoiYmVhcmVyIG1hYyIsInNjb3BlIjoiaHR0cHM6Ly9tYWlsLmdvb2dsZS5jb20vIn0K"
)

func TestXOAuth2Encoding(t *testing.T) {
	t.Parallel()
	mech, ir, err := newXOAuth2Client(googleExampleUser, googleExampleToken).Start()
	if err != nil || mech != "XOAUTH2" {
		t.Fatalf("Start = %q, %v", mech, err)
	}
	if got := base64.StdEncoding.EncodeToString(ir); got != googleExampleResponse {
		t.Errorf("initial response\n got %s\nwant %s", got, googleExampleResponse)
	}
}

func TestXOAuth2ErrorChallenge(t *testing.T) {
	t.Parallel()
	c := newXOAuth2Client("u", "t")
	challenge, _ := base64.StdEncoding.DecodeString(googleErrorChallenge)
	resp, err := c.Next(challenge)
	if err != nil || resp == nil || len(resp) != 0 {
		t.Fatalf("Next(error challenge) = %q, %v; want an empty response", resp, err)
	}
	if c.err == nil || c.err.Status != "401" || c.err.Scope != "https://mail.google.com/" {
		t.Errorf("decoded error = %+v", c.err)
	}
	if _, err := c.Next(challenge); !errors.Is(err, sasl.ErrUnexpectedServerChallenge) {
		t.Errorf("second challenge: %v, want ErrUnexpectedServerChallenge", err)
	}
	junk := newXOAuth2Client("u", "t")
	if resp, err := junk.Next([]byte("not json")); err != nil || len(resp) != 0 || junk.err != nil || string(junk.raw) != "not json" {
		t.Errorf("non-JSON challenge: %q %v %+v", resp, err, junk)
	}
}

// Over the wire, with and without SASL-IR (RFC 4959), and Google's
// failure sequence: error challenge, empty response, NO.
func TestXOAuth2Login(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		saslIR  bool
		fail    string // the status in the error challenge; "" = success
		kind    connerr.Kind
		mention string
	}{
		{name: "ok with SASL-IR", saslIR: true},
		{name: "ok without SASL-IR"},
		{name: "expired token", saslIR: true, fail: "401", kind: connerr.Auth, mention: "expired or was revoked"},
		{name: "missing scope", saslIR: true, fail: "403", kind: connerr.Blocked, mention: "IMAP access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan string, 2)
			port := startFake(t, func(f *fakeConn) {
				caps := "IMAP4rev1 AUTH=XOAUTH2"
				if tt.saslIR {
					caps += " SASL-IR"
				}
				f.send("* OK [CAPABILITY " + caps + "] fake ready")
				f.serve(handlers{"AUTHENTICATE": func(f *fakeConn, tag, args string) {
					fields := strings.Fields(args)
					if len(fields) == 2 {
						got <- fields[1]
					} else {
						f.send("+ ")
						l, _ := f.line()
						got <- l
					}
					if tt.fail == "" {
						f.send(tag + " OK [CAPABILITY " + fakeCaps + "] Thats all she wrote!")
						return
					}
					js := `{"status":"` + tt.fail + `","schemes":"bearer","scope":"https://mail.google.com/"}`
					f.send("+ " + base64.StdEncoding.EncodeToString([]byte(js)))
					l, _ := f.line()
					got <- l
					f.send(tag + " NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
				}})
			})
			cfg := fakeConfig(port)
			cfg.Username, cfg.Password, cfg.OAuth2Token = googleExampleUser, "", googleExampleToken
			c, err := Dial(context.Background(), cfg)
			if ir := <-got; ir != googleExampleResponse {
				t.Errorf("client sent %q, want %q", ir, googleExampleResponse)
			}
			if tt.fail == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				c.Close()
				return
			}
			if empty := <-got; empty != "" && empty != "=" {
				t.Errorf("answer to the error challenge = %q, want an empty response", empty)
			}
			if connerr.KindOf(err) != tt.kind {
				t.Fatalf("Dial = %v, want kind %s", err, tt.kind)
			}
			if !strings.Contains(err.(*connerr.Error).Message, tt.mention) {
				t.Errorf("message %q does not mention %q", err.(*connerr.Error).Message, tt.mention)
			}
			var xe *xoauth2Error
			if !errors.As(err, &xe) || xe.Status != tt.fail {
				t.Errorf("the decoded challenge is not in the chain: %v", err)
			}
		})
	}
}
