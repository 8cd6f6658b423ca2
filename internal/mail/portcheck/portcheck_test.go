package portcheck

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

func TestIdentify(t *testing.T) {
	for in, want := range map[string]Proto{
		"\x16\x03\x03\x00\x7a":           TLS, // ServerHello
		"\x15\x03\x01\x00\x02":           TLS, // alert
		"* OK [CAPABILITY IMAP4rev1] hi": IMAP,
		"* PREAUTH ready":                IMAP,
		"220 mx.example ESMTP":           SMTP,
		"220-mx.example ESMTP":           SMTP,
		"554 go away":                    SMTP,
		"+OK POP3 ready":                 POP3,
		"HTTP/1.1 400 Bad Request":       HTTP,
		"SSH-2.0-OpenSSH_9.6":            Unknown,
		"2":                              Unknown,
		"":                               Unknown,
	} {
		if got := Identify([]byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

// TestDefaultIsShort: the greeting deadline is a few seconds, well under
// the connection timeouts of the connectors (30 s), so a silent SSL port
// is named at once.
func TestDefaultIsShort(t *testing.T) {
	if DefaultTimeout > 5*time.Second {
		t.Fatalf("DefaultTimeout %s: a user waits that long for a wrong SSL setting", DefaultTimeout)
	}
}

// TestCheckReplaysAGreeting: the bytes read to identify a server are
// given back to the protocol client, then the error that ended them.
func TestCheckReplaysAGreeting(t *testing.T) {
	client, server := net.Pipe()
	go func() {
		io.WriteString(server, "* OK ready\r\n")
		server.Close()
	}()
	conn, err := Check(client, IMAP, time.Minute, "127.0.0.1:143", true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(conn)
	if string(b) != "* OK ready\r\n" || err != nil {
		t.Fatalf("%q %v", b, err)
	}
}

// TestCheckNamesTheProtocol: an SMTP greeting where IMAP was expected,
// and a TLS record on a plain connection.
func TestCheckNamesTheProtocol(t *testing.T) {
	for greeting, want := range map[string]connerr.Kind{"220 mx ESMTP\r\n": connerr.Protocol, "\x15\x03\x03\x00\x02\x02\x46": connerr.TLS} {
		client, server := net.Pipe()
		go io.WriteString(server, greeting)
		_, err := Check(client, IMAP, time.Minute, "127.0.0.1:143", true)
		if connerr.KindOf(err) != want || err == nil {
			t.Errorf("%q: %v, want %s", greeting, err, want)
		}
		server.Close()
	}
}
