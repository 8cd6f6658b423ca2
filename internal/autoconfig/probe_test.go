package autoconfig

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a certificate for 127.0.0.1 that no system trusts,
// and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mail test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
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
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}

// mailServer is a tiny IMAP or SMTP server on 127.0.0.1: enough of a
// greeting and of STARTTLS for a probe.
type mailServer struct {
	proto       Protocol
	greeting    string // first line; default per protocol
	implicitTLS bool
	startTLS    bool // offer and accept STARTTLS
	cert        tls.Certificate
}

func (s mailServer) start(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s mailServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	cfg := &tls.Config{Certificates: []tls.Certificate{s.cert}}
	if s.implicitTLS {
		tc := tls.Server(c, cfg)
		if tc.Handshake() != nil {
			return
		}
		c = tc
	}
	r := bufio.NewReader(c)
	greeting := s.greeting
	if greeting == "" {
		greeting = map[Protocol]string{IMAP: "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready", SMTP: "220 mail.test ESMTP"}[s.proto]
	}
	c.Write([]byte(greeting + "\r\n"))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case s.proto == IMAP && strings.HasSuffix(cmd, " STARTTLS") && s.startTLS:
			c.Write([]byte(strings.Fields(cmd)[0] + " OK begin TLS\r\n"))
		case s.proto == IMAP && strings.HasSuffix(cmd, " STARTTLS"):
			c.Write([]byte(strings.Fields(cmd)[0] + " BAD no\r\n"))
			continue
		case s.proto == IMAP:
			c.Write([]byte("* BYE\r\n" + strings.Fields(cmd)[0] + " OK\r\n"))
			return
		case strings.HasPrefix(cmd, "EHLO"):
			ext := ""
			if s.startTLS {
				ext = "250-STARTTLS\r\n"
			}
			c.Write([]byte("250-mail.test hello\r\n250-PIPELINING\r\n" + ext + "250 8BITMIME\r\n"))
			continue
		case cmd == "STARTTLS" && s.startTLS:
			c.Write([]byte("220 go ahead\r\n"))
		default:
			c.Write([]byte("221 bye\r\n"))
			return
		}
		// STARTTLS accepted.
		tc := tls.Server(c, cfg)
		if tc.Handshake() != nil {
			return
		}
		c = tc
		r = bufio.NewReader(c)
	}
}

func TestDefaultProbe(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	tests := []struct {
		name    string
		server  mailServer
		sec     Security
		trusted bool // whether the probe trusts the test certificate
		ok      bool
	}{
		{"IMAP plain", mailServer{proto: IMAP}, None, false, true},
		{"IMAP PREAUTH", mailServer{proto: IMAP, greeting: "* PREAUTH hi"}, None, false, true},
		{"IMAP TLS, self-signed certificate", mailServer{proto: IMAP, implicitTLS: true, cert: cert}, TLS, false, false},
		{"IMAP TLS, trusted certificate", mailServer{proto: IMAP, implicitTLS: true, cert: cert}, TLS, true, true},
		{"IMAP STARTTLS, trusted", mailServer{proto: IMAP, startTLS: true, cert: cert}, StartTLS, true, true},
		{"IMAP STARTTLS, self-signed", mailServer{proto: IMAP, startTLS: true, cert: cert}, StartTLS, false, false},
		{"IMAP STARTTLS refused", mailServer{proto: IMAP, cert: cert}, StartTLS, true, false},
		{"IMAP BYE", mailServer{proto: IMAP, greeting: "* BYE go away"}, None, false, false},
		{"SMTP where IMAP expected", mailServer{proto: IMAP, greeting: "220 mail.test ESMTP"}, None, false, false},
		{"SMTP plain", mailServer{proto: SMTP}, None, false, true},
		{"SMTP multi-line greeting", mailServer{proto: SMTP, greeting: "220-mail.test\r\n220 ready"}, None, false, true},
		{"SMTP TLS, self-signed certificate", mailServer{proto: SMTP, implicitTLS: true, cert: cert}, TLS, false, false},
		{"SMTP TLS, trusted", mailServer{proto: SMTP, implicitTLS: true, cert: cert}, TLS, true, true},
		{"SMTP STARTTLS, trusted", mailServer{proto: SMTP, startTLS: true, cert: cert}, StartTLS, true, true},
		{"SMTP STARTTLS not offered", mailServer{proto: SMTP, cert: cert}, StartTLS, true, false},
		{"SMTP 554", mailServer{proto: SMTP, greeting: "554 no service"}, None, false, false},
		{"HTTP server", mailServer{proto: SMTP, greeting: "HTTP/1.1 400 Bad Request"}, None, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			port := tt.server.start(t)
			g := newGuard(allLoopback, &fakeResolver{})
			if tt.trusted {
				g.probeTLS = &tls.Config{RootCAs: pool}
			}
			err := g.probe(context.Background(), tt.server.proto, "127.0.0.1", port, tt.sec)
			t.Logf("probe: %v", err)
			if tt.ok != (err == nil) {
				t.Errorf("probe err = %v; want ok %v", err, tt.ok)
			}
		})
	}
}

func TestDefaultProbeGuarded(t *testing.T) {
	t.Parallel()
	port := mailServer{proto: IMAP}.start(t)
	g := newGuard(nil, &fakeResolver{})
	if err := g.probe(context.Background(), IMAP, "127.0.0.1", port, None); !errors.Is(err, ErrPrivateAddress) {
		t.Errorf("probe of loopback without loopback allowed: err = %v; want ErrPrivateAddress", err)
	}
}

func TestDefaultProbeSilentServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accept and say nothing
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	g := newGuard(allLoopback, &fakeResolver{})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = g.probe(ctx, IMAP, "127.0.0.1", ln.Addr().(*net.TCPAddr).Port, None)
	if err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("silent server: err = %v after %v; want a prompt error", err, time.Since(start))
	}
}
