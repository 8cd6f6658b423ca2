package smtpout

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
)

// Send submits raw (an RFC 5322 message with CRLF line ends) from the
// envelope sender from to rcpts: MAIL FROM (with SIZE when the server
// advertises it, RFC 1870), RCPT TO for each, DATA (RFC 5321 §3.3).
//
// Failures are *connerr.Error, classified like Verify's. Their chain also
// holds mail.ErrPermanent when trying again cannot help (a 5xx answer, a
// refused login, TLS settings that cannot work, a message larger than the
// server takes), and mail.ErrUncertain when the connection broke after the
// whole message was handed over but before the server answered (it may
// have been accepted). A recipient refused makes the whole message fail
// before DATA, so nobody gets it and a later attempt cannot reach anyone
// twice.
//
// Without cfg.Timeout the exchange may last 60 s plus a second per 64 KiB
// of message.
func Send(ctx context.Context, cfg Config, from string, rcpts []string, raw []byte) error {
	if err := checkEnvelope(from, rcpts); err != nil {
		return err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60*time.Second + time.Duration(len(raw)/(64<<10))*time.Second
	}
	c, err := dial(ctx, cfg)
	if err != nil {
		return mark(err, false)
	}
	defer c.Close()
	// Cancelling ctx aborts the exchange (dial only bounds it by Timeout).
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	refused := func(err error, format string, args ...any) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		said := trusted(c, cfg)
		e := classify(err, cfg, said)
		var te *textproto.Error
		if me := connerr.As(e); me != nil && errors.As(err, &te) && me.Kind == connerr.Protocol {
			me.Message = fmt.Sprintf(format, args...) + fmt.Sprintf(": %d", te.Code)
			if said {
				me.Message += " " + te.Msg
			}
		}
		return mark(e, false)
	}

	// MAIL FROM, by hand: net/smtp's Mail knows no SIZE.
	cmd, args := "MAIL FROM:<%s>", []any{from}
	if ok, param := c.Extension("SIZE"); ok {
		if limit, err := strconv.ParseInt(strings.TrimSpace(param), 10, 64); err == nil && limit > 0 && int64(len(raw)) > limit {
			return cfg.fault(connerr.Protocol, mail.ErrPermanent, "The message (%s) is larger than the SMTP server %s accepts (%s). Send smaller attachments, or share them by link.", mib(len(raw)), cfg.Host, mib(int(limit)))
		}
		cmd += " SIZE=%d"
		args = append(args, len(raw))
	}
	if !asciiAll(append([]string{from}, rcpts...)) {
		if ok, _ := c.Extension("SMTPUTF8"); !ok {
			return cfg.fault(connerr.Protocol, mail.ErrPermanent, "An address has non-ASCII characters, and the SMTP server %s does not support them (no SMTPUTF8).", cfg.Host)
		}
		cmd += " SMTPUTF8"
	}
	if err := command(c.Text, 250, cmd, args...); err != nil {
		return refused(err, "The SMTP server %s refused the sender %s", cfg.Host, from)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			c.Reset() // nothing is sent to the others either
			return refused(err, "The SMTP server %s refused the recipient %s", cfg.Host, r)
		}
	}
	w, err := c.Data()
	if err != nil {
		return refused(err, "The SMTP server %s refused the message", cfg.Host)
	}
	if _, err := w.Write(raw); err != nil {
		// The final "." was not sent: the server cannot have taken it.
		return refused(err, "Sending the message to %s failed", cfg.Host)
	}
	if err := w.Close(); err != nil {
		var te *textproto.Error
		if errors.As(err, &te) {
			return refused(err, "The SMTP server %s refused the message", cfg.Host)
		}
		// Everything was written; the answer never came.
		e := classify(err, cfg, trusted(c, cfg))
		if me := connerr.As(e); me != nil {
			me.Message = fmt.Sprintf("The connection to %s broke after the message was handed over and before the server confirmed it (%v); it may or may not have been sent.", cfg.Host, err)
		}
		return mark(e, true)
	}
	c.Quit() // accepted: a failing QUIT changes nothing
	return nil
}

// command sends one command and reads its reply.
func command(t *textproto.Conn, code int, format string, args ...any) error {
	id, err := t.Cmd(format, args...)
	if err != nil {
		return err
	}
	t.StartResponse(id)
	defer t.EndResponse(id)
	_, _, err = t.ReadResponse(code)
	return err
}

// mark adds mail.ErrPermanent or mail.ErrUncertain to a classified
// failure's chain.
func mark(err error, uncertain bool) error {
	me := connerr.As(err)
	if me == nil {
		return err
	}
	var te *textproto.Error
	permanent := me.Kind == connerr.Auth || me.Kind == connerr.Blocked || me.Kind == connerr.TLS ||
		errors.As(err, &te) && te.Code >= 500 && te.Code < 600
	if !permanent && !uncertain {
		return err
	}
	cp := *me
	cp.Err = marked{err: me.Err, permanent: permanent, uncertain: uncertain && !permanent}
	return &cp
}

// marked is an underlying error that also reads as mail.ErrPermanent or
// mail.ErrUncertain.
type marked struct {
	err                  error
	permanent, uncertain bool
}

func (m marked) Error() string {
	if m.err == nil {
		return "smtpout: failed"
	}
	return m.err.Error()
}

func (m marked) Unwrap() error { return m.err }

func (m marked) Is(target error) bool {
	return target == mail.ErrPermanent && m.permanent || target == mail.ErrUncertain && m.uncertain
}

// checkEnvelope refuses addresses that would break the SMTP command line.
func checkEnvelope(from string, rcpts []string) error {
	bad := func(a string) bool {
		return a == "" || strings.ContainsAny(a, "\r\n<> \t") || !strings.Contains(a, "@")
	}
	if bad(from) {
		return &connerr.Error{Kind: connerr.Protocol, Err: mail.ErrPermanent, Message: fmt.Sprintf("The sender %q is not an address.", from)}
	}
	if len(rcpts) == 0 {
		return &connerr.Error{Kind: connerr.Protocol, Err: mail.ErrPermanent, Message: "The message has no recipient."}
	}
	for _, r := range rcpts {
		if bad(r) {
			return &connerr.Error{Kind: connerr.Protocol, Err: mail.ErrPermanent, Message: fmt.Sprintf("The recipient %q is not an address.", r)}
		}
	}
	return nil
}

func asciiAll(ss []string) bool {
	for _, s := range ss {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return false
			}
		}
	}
	return true
}

func mib(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)>>10)
}
