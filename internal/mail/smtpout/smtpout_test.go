package smtpout

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
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/crmsync/crmsync/internal/connerr"
)

// backend accepts user/secret over AUTH PLAIN.
type backend struct{ reply *smtp.SMTPError }

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct{ b *backend }

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if s.b.reply != nil {
			return s.b.reply
		}
		if user != "user" || pass != "secret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		return nil
	}), nil
}
func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *session) Data(r io.Reader) error               { _, err := io.Copy(io.Discard, r); return err }
func (s *session) Reset()                               {}
func (s *session) Logout() error                        { return nil }

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// serve starts a go-smtp server; implicit selects TLS from the first byte.
func serve(t *testing.T, b *backend, implicit bool, cert tls.Certificate) int {
	s := smtp.NewServer(b)
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	var l net.Listener
	var err error
	if implicit {
		l, err = tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig)
	} else {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return l.Addr().(*net.TCPAddr).Port
}

func TestVerify(t *testing.T) {
	cert, pool := selfSigned(t)
	starttls := serve(t, &backend{}, false, cert)
	implicit := serve(t, &backend{}, true, cert)
	blocked := serve(t, &backend{reply: &smtp.SMTPError{Code: 534, EnhancedCode: smtp.EnhancedCode{5, 7, 9}, Message: "Application-specific password required"}}, false, cert)
	closed := func() int {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		return p
	}()
	ctx := context.Background()
	tc := &tls.Config{RootCAs: pool}
	for _, tc2 := range []struct {
		name string
		cfg  Config
		want connerr.Kind // "" for success
	}{
		{"starttls ok", Config{Host: "127.0.0.1", Port: starttls, Security: "starttls", Username: "user", Password: "secret", TLSConfig: tc}, ""},
		{"implicit tls ok", Config{Host: "127.0.0.1", Port: implicit, Security: "tls", Username: "user", Password: "secret", TLSConfig: tc}, ""},
		{"plain to loopback ok", Config{Host: "127.0.0.1", Port: starttls, Security: "none", Username: "user", Password: "secret"}, ""},
		{"wrong password", Config{Host: "127.0.0.1", Port: starttls, Security: "starttls", Username: "user", Password: "nope", TLSConfig: tc}, connerr.Auth},
		{"app password required", Config{Host: "127.0.0.1", Port: blocked, Security: "starttls", Username: "user", Password: "secret", TLSConfig: tc}, connerr.Blocked},
		{"untrusted certificate", Config{Host: "127.0.0.1", Port: implicit, Security: "tls", Username: "user", Password: "secret"}, connerr.TLS},
		{"tls to a plain port", Config{Host: "127.0.0.1", Port: starttls, Security: "tls", Username: "user", Password: "secret", TLSConfig: tc, Timeout: 3 * time.Second}, connerr.TLS},
		{"nobody listening", Config{Host: "127.0.0.1", Port: closed, Security: "starttls", Username: "user", Password: "secret", TLSConfig: tc}, connerr.Unreachable},
	} {
		t.Run(tc2.name, func(t *testing.T) {
			err := Verify(ctx, tc2.cfg)
			if tc2.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var me *connerr.Error
			if !errors.As(err, &me) || me.Kind != tc2.want || me.Message == "" {
				t.Fatalf("err = %v, want kind %s", err, tc2.want)
			}
			if want := fmt.Sprintf("127.0.0.1:%d", tc2.cfg.Port); me.Server != want {
				t.Errorf("Server = %q, want %q", me.Server, want)
			}
		})
	}
}

func TestPlaintextRefusedRemote(t *testing.T) {
	// A listener on a non-loopback name cannot be had in a test, so check
	// the rule on the function that decides it.
	if loopback("mail.example.com") || !loopback("127.0.0.1") || !loopback("::1") || !loopback("localhost") {
		t.Fatal("loopback detection wrong")
	}
}
