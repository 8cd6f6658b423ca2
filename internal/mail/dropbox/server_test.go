package dropbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

const (
	domain = "in.crm.example"
	token  = "k3x9q2v7m4token"  // ann's box
	token2 = "p8w1z6c5r2second" // ann's second box (another account)
	ann    = "ann@example.com"
	ann2   = "ann@work.example"
)

var (
	annBox  = Box{AccountID: 1, OwnerAddresses: []string{ann, ann2}}
	annBox2 = Box{AccountID: 2, OwnerAddresses: []string{ann}}
	clock   = time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
)

// memBackend is the test fake: boxes by token, deliveries kept in memory.
type memBackend struct {
	mu         sync.Mutex
	boxes      map[string]Box
	lookups    []string
	deliveries []delivery
	lookupErr  error
	deliverErr func(Box) error // consulted after reading raw
}

type delivery struct {
	box Box
	env Envelope
	raw string
}

func (b *memBackend) Lookup(ctx context.Context, localPart string) (Box, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lookups = append(b.lookups, localPart)
	if b.lookupErr != nil {
		return Box{}, b.lookupErr
	}
	box, ok := b.boxes[localPart]
	if !ok {
		return Box{}, ErrNoSuchBox
	}
	return box, nil
}

func (b *memBackend) Deliver(ctx context.Context, box Box, env Envelope, raw io.Reader) error {
	data, err := io.ReadAll(raw)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deliverErr != nil {
		if err := b.deliverErr(box); err != nil {
			return err
		}
	}
	b.deliveries = append(b.deliveries, delivery{box, env, string(data)})
	return nil
}

func (b *memBackend) delivered() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]delivery(nil), b.deliveries...)
}

// logSink records log records; a test fails if any is a recovered panic.
type logSink struct {
	mu   sync.Mutex
	recs []string
}

func (h *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (h *logSink) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logSink) WithGroup(string) slog.Handler            { return h }
func (h *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
	h.mu.Lock()
	h.recs = append(h.recs, b.String())
	h.mu.Unlock()
	return nil
}

func (h *logSink) panics() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.recs {
		if strings.HasPrefix(r, "ERROR") && strings.Contains(r, "panic") {
			out = append(out, r)
		}
	}
	return out
}

type testBundle struct {
	srv  *Server
	be   *memBackend
	logs *logSink
	addr string
}

// setup starts a server on 127.0.0.1:0 with ann's two boxes.
func setup(t testing.TB, mod func(*Config)) *testBundle {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return setupOn(t, l, mod)
}

// setupOn is setup on l.
func setupOn(t testing.TB, l net.Listener, mod func(*Config)) *testBundle {
	t.Helper()
	be := &memBackend{boxes: map[string]Box{token: annBox, token2: annBox2}}
	logs := &logSink{}
	cfg := Config{Domain: domain, Logger: slog.New(logs), Now: func() time.Time { return clock }}
	if mod != nil {
		mod(&cfg)
	}
	srv := New(cfg, be)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		for _, p := range logs.panics() {
			t.Errorf("server panicked: %s", p)
		}
	})
	return &testBundle{srv: srv, be: be, logs: logs, addr: l.Addr().String()}
}

func (tb *testBundle) dial(t *testing.T) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(tb.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	return c
}

// send runs one transaction; the first error ends it and is returned with
// the step that failed ("mail", "rcpt", "data").
func send(c *smtp.Client, from string, opts *smtp.MailOptions, to []string, msg string) (string, error) {
	if err := c.Mail(from, opts); err != nil {
		return "mail", err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt, nil); err != nil {
			return "rcpt", err
		}
	}
	w, err := c.Data()
	if err != nil {
		return "data", err
	}
	if _, err := io.WriteString(w, msg); err != nil {
		return "data", err
	}
	return "data", w.Close()
}

// wantReply checks that err is the SMTP reply code enh with text in it.
func wantReply(t *testing.T, err error, code int, enh smtp.EnhancedCode, text string) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want SMTP %d %v", err, code, enh)
	}
	if se.Code != code || se.EnhancedCode != enh || !strings.Contains(se.Message, text) {
		t.Fatalf("reply = %d %v %q, want %d %v containing %q", se.Code, se.EnhancedCode, se.Message, code, enh, text)
	}
}

const msg = "From: Ann <ann@example.com>\r\n" +
	"To: Bob <bob@customer.example>\r\n" +
	"Subject: Quote\r\n" +
	"\r\n" +
	"Hello Bob,\r\n" +
	".a line that starts with a dot\r\n" +
	"\r\n"

func TestDeliver(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	c := tb.dial(t)
	if _, err := send(c, ann, nil, []string{token + "@" + domain}, msg); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	got := tb.be.delivered()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	d := got[0]
	wantReceived := "Received: from client.example ([127.0.0.1])\r\n" +
		"\tby in.crm.example with ESMTP\r\n" +
		"\tfor <" + token + "@" + domain + ">; Wed, 04 Mar 2026 05:06:07 +0100\r\n"
	if d.raw != wantReceived+msg {
		t.Fatalf("raw =\n%q\nwant\n%q", d.raw, wantReceived+msg)
	}
	if d.box.AccountID != 1 {
		t.Fatalf("box = %+v", d.box)
	}
	e := d.env
	if e.MailFrom != ann || len(e.Recipients) != 1 || e.Recipients[0] != token+"@"+domain ||
		e.HeloName != "client.example" || !e.ReceivedAt.Equal(clock) ||
		len(e.HeaderFrom) != 1 || e.HeaderFrom[0] != ann || !strings.HasPrefix(e.RemoteAddr, "127.0.0.1:") {
		t.Fatalf("envelope = %+v", e)
	}
}

func TestAddressMatching(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	c := tb.dial(t)
	// Token and domain in upper case, a +suffix, the owner's other
	// address in mixed case, and a From header with a folded, encoded
	// display name.
	rcpt := strings.ToUpper(token) + "+Acme-Deal@IN.CRM.Example"
	body := "From: =?iso-8859-1?q?Ann_M=FCller?=\r\n <Ann@Work.Example>\r\nSubject: x\r\n\r\nhi\r\n"
	if _, err := send(c, "Ann@WORK.example", nil, []string{rcpt}, body); err != nil {
		t.Fatal(err)
	}
	got := tb.be.delivered()
	if len(got) != 1 || got[0].env.MailFrom != ann2 || got[0].env.HeaderFrom[0] != ann2 || got[0].env.Recipients[0] != rcpt {
		t.Fatalf("deliveries = %+v", got)
	}
	tb.be.mu.Lock()
	defer tb.be.mu.Unlock()
	if len(tb.be.lookups) != 1 || tb.be.lookups[0] != token {
		t.Fatalf("lookups = %q, want [%q]", tb.be.lookups, token)
	}
}

func TestRejectAtRcpt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		from, to  string
		lookupErr error
		code      int
		enh       smtp.EnhancedCode
		text      string
	}{
		{"envelope sender not the owner", "mallory@evil.example", token + "@" + domain, nil, 550, smtp.EnhancedCode{5, 7, 1}, "accepts mail only from its owner's addresses"},
		{"owner's domain, other user", "bob@example.com", token + "@" + domain, nil, 550, smtp.EnhancedCode{5, 7, 1}, "only from its owner"},
		{"null sender", "", token + "@" + domain, nil, 550, smtp.EnhancedCode{5, 7, 1}, "only from its owner"},
		{"unknown token", ann, "nosuchtoken@" + domain, nil, 550, smtp.EnhancedCode{5, 1, 1}, "No such dropbox"},
		{"empty token", ann, "+x@" + domain, nil, 550, smtp.EnhancedCode{5, 1, 1}, "No such dropbox"},
		{"wrong domain", ann, token + "@example.org", nil, 550, smtp.EnhancedCode{5, 7, 1}, "Relay denied"},
		{"subdomain", ann, token + "@x." + domain, nil, 550, smtp.EnhancedCode{5, 7, 1}, "Relay denied"},
		{"lookup fails", ann, token + "@" + domain, errors.New("db down"), 451, smtp.EnhancedCode{4, 3, 0}, "try again later"},
		{"lookup rejects", ann, token + "@" + domain, &RejectError{Code: 550, Enhanced: [3]int{5, 2, 1}, Message: "Dropbox disabled"}, 550, smtp.EnhancedCode{5, 2, 1}, "Dropbox disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, nil)
			tb.be.lookupErr = tc.lookupErr
			c := tb.dial(t)
			step, err := send(c, tc.from, nil, []string{tc.to}, msg)
			if step != "rcpt" {
				t.Fatalf("failed at %s (%v), want rcpt", step, err)
			}
			wantReply(t, err, tc.code, tc.enh, tc.text)
			// DATA without a valid recipient is refused too.
			if _, err := c.Data(); err == nil {
				t.Fatal("DATA accepted without a valid recipient")
			}
			if err := c.Quit(); err != nil {
				t.Fatal(err)
			}
			if n := len(tb.be.delivered()); n != 0 {
				t.Fatalf("%d deliveries", n)
			}
		})
	}
}

func TestRejectHeaderFrom(t *testing.T) {
	t.Parallel()
	rest := "To: bob@customer.example\r\nSubject: x\r\n\r\nbody\r\n"
	for _, tc := range []struct {
		name, header, text string
	}{
		{"spoofed", "From: Mallory <mallory@evil.example>\r\n", "the From header names another one"},
		{"display name looks like the owner", "From: \"ann@example.com\" <mallory@evil.example>\r\n", "names another one"},
		{"owner and a stranger", "From: ann@example.com, mallory@evil.example\r\n", "names another one"},
		{"missing", "", "no From header field"},
		{"two From fields", "From: ann@example.com\r\nFrom: mallory@evil.example\r\n", "more than one From"},
		{"unparsable", "From: <ann@example.com> mallory@evil.example\r\n", "cannot be read"},
		{"empty group", "From: undisclosed:;\r\n", "names no address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, nil)
			c := tb.dial(t)
			step, err := send(c, ann, nil, []string{token + "@" + domain}, tc.header+rest)
			if step != "data" {
				t.Fatalf("failed at %s (%v), want data", step, err)
			}
			wantReply(t, err, 550, smtp.EnhancedCode{5, 7, 1}, tc.text)
			// The session goes on: a good message is still accepted.
			if _, err := send(c, ann, nil, []string{token + "@" + domain}, msg); err != nil {
				t.Fatal(err)
			}
			if n := len(tb.be.delivered()); n != 1 {
				t.Fatalf("%d deliveries, want 1", n)
			}
		})
	}
}

func TestSize(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *Config) { c.MaxMessageBytes = 4096 })
	c := tb.dial(t)
	if size, ok := c.MaxMessageSize(); !ok || size != 4096 {
		t.Fatalf("SIZE = %d, %v", size, ok)
	}
	rcpt := []string{token + "@" + domain}

	step, err := send(c, ann, &smtp.MailOptions{Size: 5000}, rcpt, msg)
	if step != "mail" {
		t.Fatalf("failed at %s (%v), want mail", step, err)
	}
	wantReply(t, err, 552, smtp.EnhancedCode{5, 3, 4}, "")

	// No SIZE given; the header alone fits, the body does not: Deliver is
	// streaming when the limit is hit.
	big := msg + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", 100)
	step, err = send(c, ann, nil, rcpt, big)
	if step != "data" {
		t.Fatalf("failed at %s (%v), want data", step, err)
	}
	wantReply(t, err, 552, smtp.EnhancedCode{5, 3, 4}, "size limit of 4096 bytes")

	// Same to two boxes (buffered, not streamed).
	step, err = send(c, ann, nil, []string{token + "@" + domain, token2 + "@" + domain}, big)
	if step != "data" {
		t.Fatalf("failed at %s (%v), want data", step, err)
	}
	wantReply(t, err, 552, smtp.EnhancedCode{5, 3, 4}, "size limit")

	if n := len(tb.be.delivered()); n != 0 {
		t.Fatalf("%d deliveries, want 0", n)
	}
	// Within the limit, on the same connection.
	if _, err := send(c, ann, &smtp.MailOptions{Size: int64(len(msg))}, rcpt, msg); err != nil {
		t.Fatal(err)
	}
	if n := len(tb.be.delivered()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}

func TestHeaderTooLarge(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	c := tb.dial(t)
	hdr := strings.Repeat("X-Filler: "+strings.Repeat("x", 1000)+"\r\n", maxHeaderBytes/1000+10)
	step, err := send(c, ann, nil, []string{token + "@" + domain}, msg[:len("From: Ann <ann@example.com>\r\n")]+hdr+"\r\nbody\r\n")
	if step != "data" {
		t.Fatalf("failed at %s (%v), want data", step, err)
	}
	wantReply(t, err, 552, smtp.EnhancedCode{5, 3, 4}, "header exceeds")
	if n := len(tb.be.delivered()); n != 0 {
		t.Fatalf("%d deliveries", n)
	}
}

func TestTooManyRecipients(t *testing.T) {
	t.Parallel()
	tb := setup(t, func(c *Config) { c.MaxRecipients = 2 })
	c := tb.dial(t)
	if err := c.Mail(ann, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := c.Rcpt(fmt.Sprintf("%s+%d@%s", token, i, domain), nil); err != nil {
			t.Fatal(err)
		}
	}
	wantReply(t, c.Rcpt(token+"+2@"+domain, nil), 452, smtp.EnhancedCode{4, 5, 3}, "2 recipients")
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, msg)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// Two addresses of one box: one delivery, naming both.
	got := tb.be.delivered()
	if len(got) != 1 || len(got[0].env.Recipients) != 2 {
		t.Fatalf("deliveries = %+v", got)
	}
	if strings.Contains(got[0].raw, "\tfor <") {
		t.Fatalf("Received names one recipient of two:\n%s", got[0].raw)
	}
}

func TestTwoBoxes(t *testing.T) {
	t.Parallel()
	tb := setup(t, nil)
	c := tb.dial(t)
	r1, r2 := token+"@"+domain, token2+"+x@"+domain
	if _, err := send(c, ann, nil, []string{r1, "nosuch@" + domain, r2}, ""); err == nil {
		t.Fatal("unknown token accepted")
	}
	c.Reset()
	if _, err := send(c, ann, nil, []string{r1, r2}, msg); err != nil {
		t.Fatal(err)
	}
	got := tb.be.delivered()
	if len(got) != 2 {
		t.Fatalf("%d deliveries, want 2", len(got))
	}
	for i, want := range []struct {
		id   int64
		rcpt string
	}{{1, r1}, {2, r2}} {
		d := got[i]
		if d.box.AccountID != want.id || len(d.env.Recipients) != 1 || d.env.Recipients[0] != want.rcpt ||
			!strings.Contains(d.raw, "for <"+want.rcpt+">") || !strings.HasSuffix(d.raw, msg) {
			t.Fatalf("delivery %d = %+v", i, d)
		}
	}
}

func TestDeliverErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fail  func(Box) error
		boxes []string
		code  int
		enh   smtp.EnhancedCode
		text  string
	}{
		{"transient", func(Box) error { return errors.New("disk full") }, []string{token}, 451, smtp.EnhancedCode{4, 3, 0}, "try again later"},
		{"reject", func(Box) error {
			return &RejectError{Code: 552, Enhanced: [3]int{5, 2, 2}, Message: "Dropbox over quota"}
		}, []string{token}, 552, smtp.EnhancedCode{5, 2, 2}, "Dropbox over quota"},
		{"wrapped reject", func(Box) error {
			return fmt.Errorf("store: %w", &RejectError{Code: 554, Message: "no\r\nsmuggling"})
		}, []string{token}, 554, smtp.EnhancedCode{5, 0, 0}, "no  smuggling"},
		{"bad reject code", func(Box) error { return &RejectError{Code: 250, Message: "ok?"} }, []string{token}, 554, smtp.EnhancedCode{5, 0, 0}, "ok?"},
		{"one box of two fails", func(b Box) error {
			if b.AccountID == 2 {
				return errors.New("timeout")
			}
			return nil
		}, []string{token, token2}, 451, smtp.EnhancedCode{4, 3, 0}, "try again later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, nil)
			tb.be.deliverErr = tc.fail
			c := tb.dial(t)
			var to []string
			for _, b := range tc.boxes {
				to = append(to, b+"@"+domain)
			}
			step, err := send(c, ann, nil, to, msg)
			if step != "data" {
				t.Fatalf("failed at %s (%v), want data", step, err)
			}
			wantReply(t, err, tc.code, tc.enh, tc.text)
		})
	}
}

func TestStartTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	tb := setup(t, func(c *Config) { c.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}} })
	c, err := smtp.DialStartTLS(tb.addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("not on TLS after STARTTLS")
	}
	if _, err := send(c, ann, nil, []string{token + "@" + domain}, msg); err != nil {
		t.Fatal(err)
	}
	got := tb.be.delivered()
	if len(got) != 1 || !strings.Contains(got[0].raw, "with ESMTPS") {
		t.Fatalf("deliveries = %+v", got)
	}
	// Without TLSConfig, STARTTLS is neither offered nor accepted.
	plain := setup(t, nil).dial(t)
	if ok, _ := plain.Extension("STARTTLS"); ok {
		t.Fatal("STARTTLS advertised without TLSConfig")
	}
}

func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestClose(t *testing.T) {
	t.Parallel()
	be := &memBackend{boxes: map[string]Box{token: annBox}}
	srv := New(Config{Domain: domain}, be)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Close = %v", err)
	}
	if err := New(Config{}, be).Serve(l); err == nil {
		t.Fatal("Serve without Domain succeeded")
	}

	// Close while a Deliver is blocked: its context ends, Close waits.
	started := make(chan struct{})
	blocking := &blockingBackend{memBackend: be, started: started}
	srv = New(Config{Domain: domain}, blocking)
	l, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	for srv.Addr() == nil { // Serve has not started yet
		time.Sleep(time.Millisecond)
	}
	if srv.Addr().String() != l.Addr().String() {
		t.Fatalf("Addr = %v, want %v", srv.Addr(), l.Addr())
	}
	c, err := smtp.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go send(c, ann, nil, []string{token + "@" + domain}, msg)
	<-started
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if !blocking.sawCancel {
		t.Fatal("Deliver's context was not cancelled before Close returned")
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

type blockingBackend struct {
	*memBackend
	started   chan struct{}
	sawCancel bool
}

func (b *blockingBackend) Deliver(ctx context.Context, box Box, env Envelope, raw io.Reader) error {
	close(b.started)
	<-ctx.Done()
	b.sawCancel = true
	return ctx.Err()
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	srv := New(Config{Addr: "127.0.0.1:0", Domain: domain}, &memBackend{boxes: map[string]Box{token: annBox}})
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	for srv.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	c, err := smtp.Dial(srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := send(c, ann, nil, []string{token + "@" + domain}, msg); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("ListenAndServe = %v", err)
	}
	if err := srv.ListenAndServe(); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("ListenAndServe after Close = %v", err)
	}
}
