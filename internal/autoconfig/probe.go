package autoconfig

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// probeTimeout bounds one probe: connection, TLS and greeting.
const probeTimeout = 8 * time.Second

// maxProbeLine bounds a line read from a probed server; a greeting with
// its capabilities fits easily.
const maxProbeLine = 4096

// probe is the default Prober. It connects through the guard, completes TLS
// with certificate verification against host (after STARTTLS when sec says
// so), and reads the greeting: "* OK" or "* PREAUTH" for IMAP (RFC 9051
// §7.1), a 220 reply for SMTP (RFC 5321 §4.2). A server whose certificate
// does not verify is not confirmed: its settings would fail later anyway,
// and suggesting them would teach the user to accept bad certificates.
func (g *guard) probe(ctx context.Context, proto Protocol, host string, port int, sec Security) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	conn, err := g.dialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}

	if sec == TLS {
		tc, err := g.tlsClient(ctx, conn, host)
		if err != nil {
			return err
		}
		conn = tc
	}
	pc := &probeConn{conn: conn, r: bufio.NewReaderSize(conn, maxProbeLine)}
	switch proto {
	case IMAP:
		err = pc.imap(ctx, g, host, sec)
	case SMTP:
		err = pc.smtp(ctx, g, host, sec)
	default:
		err = fmt.Errorf("autoconfig: unknown protocol %q", proto)
	}
	return err
}

func (g *guard) tlsClient(ctx context.Context, conn net.Conn, host string) (*tls.Conn, error) {
	cfg := &tls.Config{}
	if g.probeTLS != nil {
		cfg = g.probeTLS.Clone()
	}
	cfg.ServerName = host
	cfg.MinVersion = tls.VersionTLS12
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

type probeConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func (p *probeConn) readLine() (string, error) {
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", errors.New("line too long")
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (p *probeConn) write(s string) error {
	_, err := p.conn.Write([]byte(s + "\r\n"))
	return err
}

// startTLS switches the connection to TLS after the server agreed to it.
// Anything the server sent after its answer and before the handshake would
// be a command injection (CVE-2011-0411 and its kin): refused.
func (p *probeConn) startTLS(ctx context.Context, g *guard, host string) error {
	if p.r.Buffered() > 0 {
		return errors.New("data after the STARTTLS answer")
	}
	tc, err := g.tlsClient(ctx, p.conn, host)
	if err != nil {
		return err
	}
	p.conn = tc
	p.r = bufio.NewReaderSize(tc, maxProbeLine)
	return nil
}

func (p *probeConn) imap(ctx context.Context, g *guard, host string, sec Security) error {
	greeting, err := p.readLine()
	if err != nil {
		return fmt.Errorf("reading the IMAP greeting: %w", err)
	}
	up := strings.ToUpper(greeting)
	if !strings.HasPrefix(up, "* OK") && !strings.HasPrefix(up, "* PREAUTH") {
		return fmt.Errorf("not an IMAP greeting: %.80q", greeting)
	}
	if sec == StartTLS {
		// RFC 9051 §6.2.1.
		if err := p.write("a1 STARTTLS"); err != nil {
			return err
		}
		for i := 0; ; i++ {
			line, err := p.readLine()
			if err != nil {
				return fmt.Errorf("reading the STARTTLS answer: %w", err)
			}
			if strings.HasPrefix(line, "* ") && i < 20 {
				continue
			}
			if !strings.HasPrefix(strings.ToUpper(line), "A1 OK") {
				return fmt.Errorf("STARTTLS refused: %.80q", line)
			}
			break
		}
		if err := p.startTLS(ctx, g, host); err != nil {
			return err
		}
	}
	p.write("a2 LOGOUT")
	return nil
}

func (p *probeConn) smtp(ctx context.Context, g *guard, host string, sec Security) error {
	code, _, err := p.readReply()
	if err != nil {
		return fmt.Errorf("reading the SMTP greeting: %w", err)
	}
	if code != 220 {
		return fmt.Errorf("SMTP greeting %d, not 220", code)
	}
	if sec == StartTLS {
		// RFC 3207 §4: EHLO, look for STARTTLS, ask for it, expect 220.
		if err := p.write("EHLO " + ehloName(p.conn)); err != nil {
			return err
		}
		code, lines, err := p.readReply()
		if err != nil {
			return fmt.Errorf("reading the EHLO answer: %w", err)
		}
		if code != 250 {
			return fmt.Errorf("EHLO answered %d", code)
		}
		offered := false
		for _, l := range lines[1:] {
			if strings.EqualFold(strings.TrimSpace(l), "STARTTLS") {
				offered = true
			}
		}
		if !offered {
			return errors.New("the server does not offer STARTTLS")
		}
		if err := p.write("STARTTLS"); err != nil {
			return err
		}
		code, _, err = p.readReply()
		if err != nil {
			return fmt.Errorf("reading the STARTTLS answer: %w", err)
		}
		if code != 220 {
			return fmt.Errorf("STARTTLS answered %d", code)
		}
		if err := p.startTLS(ctx, g, host); err != nil {
			return err
		}
	}
	p.write("QUIT")
	return nil
}

// readReply reads an SMTP reply, RFC 5321 §4.2: lines "250-text" until one
// "250 text" (or a bare "250"). It returns the code and the lines' texts.
func (p *probeConn) readReply() (int, []string, error) {
	var lines []string
	for i := 0; i < 100; i++ {
		line, err := p.readLine()
		if err != nil {
			return 0, nil, err
		}
		if len(line) < 3 {
			return 0, nil, fmt.Errorf("malformed reply %.80q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil || code < 200 || code > 599 {
			return 0, nil, fmt.Errorf("malformed reply %.80q", line)
		}
		if len(line) == 3 {
			return code, append(lines, ""), nil
		}
		lines = append(lines, line[4:])
		switch line[3] {
		case ' ':
			return code, lines, nil
		case '-':
		default:
			return 0, nil, fmt.Errorf("malformed reply %.80q", line)
		}
	}
	return 0, nil, errors.New("reply too long")
}

// ehloName is the address literal of the local end (RFC 5321 §4.1.3): a
// probe has no host name of its own worth announcing.
func ehloName(c net.Conn) string {
	if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil {
		ip := ap.Addr().Unmap()
		if ip.Is4() {
			return "[" + ip.String() + "]"
		}
		return "[IPv6:" + ip.WithZone("").String() + "]"
	}
	return "[127.0.0.1]"
}
