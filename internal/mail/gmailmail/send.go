package gmailmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"strings"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	crmmail "github.com/crmsync/crmsync/internal/mail"
)

// Send submits raw through messages.send (§9.3) and returns the id of the
// copy Gmail files in SENT: that copy is the sent message, nothing is
// appended. Gmail takes the recipients from the headers, so those of
// rcpts in no To or Cc header (the Bcc recipients, which the composed
// message leaves out) are given in a Bcc header; Gmail keeps it out of
// what recipients receive. from is not sent: Gmail sends as the signed-in
// user or one of their verified addresses, which the API checked before
// the message was queued (from_mismatch).
//
// The request is made once: a failure after Gmail may have taken the
// message (no answer, a 5xx) carries crmmail.ErrUncertain, so the outbox
// looks for it in SENT rather than send it twice; one that cannot work
// carries crmmail.ErrPermanent. Throttling (the sending limit) stays
// transient.
func (m *Mailbox) Send(ctx context.Context, from string, rcpts []string, raw []byte) error {
	raw, err := withBcc(raw, rcpts)
	if err != nil {
		return err
	}
	if len(raw) > MaxSendBytes {
		return &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Err: crmmail.ErrPermanent,
			Message: fmt.Sprintf("The message is larger than Gmail sends (%d MB); remove attachments and send it again.", MaxSendBytes/1000000)}
	}
	body, _ := json.Marshal(map[string]string{"raw": base64.URLEncoding.EncodeToString(raw)})
	resp, err := m.do(ctx, costSend, cloudapi.Request{Method: http.MethodPost, URL: api + "/messages/send", Body: body, Unrepeatable: true})
	if err != nil {
		return sendFailure(ctx, err)
	}
	// Gmail said 200: it took the message, and filed it in SENT, where
	// the outbox finds it by its Message-ID (SavesSentMail).
	resp.Body.Close()
	return nil
}

// SavesSentMail says Gmail files what it sends in SENT itself: the
// outbox does not append a second copy (mail.SentSaver).
func (*Mailbox) SavesSentMail() bool { return true }

// sendFailure marks a refused send: uncertain when Gmail may have taken
// it, permanent when trying again cannot help.
func sendFailure(ctx context.Context, err error) error {
	me := connerr.As(err)
	if me == nil || ctx.Err() != nil {
		return err
	}
	status := cloudapi.Status(err)
	var op *net.OpError
	switch {
	case me.Kind == connerr.Unreachable && status == 0 && errors.As(err, &op) && op.Op == "dial":
		return err // never connected: nothing was sent, try again later
	case me.Kind == connerr.Unreachable:
		return mark(me, crmmail.ErrUncertain)
	case me.Kind == connerr.Throttled:
		return err
	case status/100 == 4 || !me.Kind.Transient():
		return mark(me, crmmail.ErrPermanent)
	}
	return err
}

// mark adds sentinel to a failure's chain, its words kept.
func mark(me *connerr.Error, sentinel error) error {
	cp := *me
	if me.Err != nil {
		cp.Err = fmt.Errorf("%w: %w", sentinel, me.Err)
	} else {
		cp.Err = sentinel
	}
	return &cp
}

// withBcc returns raw with a Bcc header naming those of rcpts that no To
// or Cc header names.
func withBcc(raw []byte, rcpts []string) ([]byte, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, &connerr.Error{Kind: connerr.Protocol, Err: fmt.Errorf("%w: %w", crmmail.ErrPermanent, err),
			Message: "The message to send is not a valid email; write it again."}
	}
	named := map[string]bool{}
	for _, h := range []string{"To", "Cc", "Bcc"} {
		list, _ := msg.Header.AddressList(h)
		for _, a := range list {
			named[strings.ToLower(a.Address)] = true
		}
	}
	var bcc []string
	for _, r := range rcpts {
		if r = strings.TrimSpace(r); r != "" && !named[strings.ToLower(r)] {
			if strings.ContainsAny(r, "\r\n,<>") {
				return nil, &connerr.Error{Kind: connerr.Protocol, Err: crmmail.ErrPermanent,
					Message: fmt.Sprintf("The recipient %q is not a valid address.", r)}
			}
			named[strings.ToLower(r)] = true
			bcc = append(bcc, r)
		}
	}
	if len(bcc) == 0 {
		return raw, nil
	}
	return append([]byte("Bcc: "+strings.Join(bcc, ", ")+"\r\n"), raw...), nil
}
