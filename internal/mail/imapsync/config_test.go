package imapsync

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
)

func TestPlaintextRefusedToRemoteHosts(t *testing.T) {
	t.Parallel()
	// Nothing listens here: a refusal must come before any connection.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	for _, host := range []string{"imap.example.org", "192.0.2.10", "[2001:db8::1]", "10.0.0.1"} {
		err := Verify(context.Background(), Config{Host: host, Port: port, Security: "none", Username: "u", Password: "p"})
		if connerr.KindOf(err) != connerr.TLS || !errors.Is(err, ErrPlaintext) {
			t.Errorf("%s: %v, want KindTLS wrapping ErrPlaintext", host, err)
		}
	}
	// Loopback is allowed, and so is anything with AllowPlaintext: both
	// then fail to connect (nothing listens) rather than refusing.
	for _, cfg := range []Config{
		{Host: "127.0.0.1", Port: port, Security: "none"},
		{Host: "localhost", Port: port, Security: "NONE"},
		{Host: "::1", Port: port, Security: "none"},
		{Host: "192.0.2.10", Port: port, Security: "none", AllowPlaintext: true, DialTimeout: 1},
	} {
		err := Verify(context.Background(), cfg)
		if errors.Is(err, ErrPlaintext) || connerr.KindOf(err) != connerr.Unreachable {
			t.Errorf("%+v: %v, want KindUnreachable", cfg, err)
		}
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Config{Host: " imap.example.org "}.withDefaults()
	if err != nil || cfg.Port != 993 || cfg.Security != SecurityTLS || cfg.CommandTimeout != DefaultCommandTimeout || cfg.DialTimeout != DefaultDialTimeout || cfg.Logger == nil {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
	if cfg.tlsConfig().ServerName != "imap.example.org" {
		t.Errorf("ServerName = %q", cfg.tlsConfig().ServerName)
	}
	cfg, _ = Config{Host: "h", Security: "STARTTLS"}.withDefaults()
	if cfg.Port != 143 {
		t.Errorf("starttls port = %d", cfg.Port)
	}
	for _, bad := range []Config{{}, {Host: "h", Security: "ssl3"}, {Host: "h", Port: 70000}} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "imap.localhost": true, "127.0.0.1": true, "127.1.2.3": true,
		"::1": true, "[::1]": true, "localhost.example.org": false, "10.0.0.1": false, "example.org": false, "": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}

func TestFlagMapping(t *testing.T) {
	t.Parallel()
	all := mail.Flags{Seen: true, Flagged: true, Answered: true, Draft: true}
	if got := flagsFromIMAP(flagsToIMAP(all)); got != all {
		t.Errorf("round trip: %+v", got)
	}
	got := flagsFromIMAP([]imap.Flag{"\\SEEN", "\\deleted", "$Forwarded", "\\draft", "\\Recent"})
	if got != (mail.Flags{Seen: true, Draft: true}) {
		t.Errorf("case-insensitive system flags: %+v", got)
	}
	if l := flagsToIMAP(mail.Flags{Flagged: true, Answered: true}); !slices.Equal(l, []imap.Flag{imap.FlagFlagged, imap.FlagAnswered}) {
		t.Errorf("flagsToIMAP = %v", l)
	}
}
