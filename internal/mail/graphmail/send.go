package graphmail

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
)

// Sending (reference §6.4): the queued message's MIME, base64, as
// text/plain to sendMail. Graph takes the recipients from the MIME's
// headers, so the envelope's Bcc recipients (in no header of the queued
// message) are added as a Bcc header; Graph keeps them out of what the
// recipients get, and in the copy it saves to Sent Items, where the sync
// finds it (the outbox looks it up by its Message-ID, SearchMessageID).
//
// The request is never repeated once it may have reached Microsoft (see
// cloudapi.Request.Unrepeatable): a lost answer is mail.ErrUncertain and
// the outbox decides by looking in Sent Items, so a message is never sent
// twice.

// Send submits raw through the mailbox (mail.Sender). Graph sends as the
// signed-in mailbox: from is not sent apart (the API checked that the
// message's From is the mailbox's address, from_mismatch).
func (m *Mailbox) Send(ctx context.Context, from string, rcpts []string, raw []byte) error {
	mime, err := withBcc(raw, rcpts)
	if err != nil {
		return &connerr.Error{Kind: connerr.Protocol, Server: m.c.Server, Err: errors.Join(err, mail.ErrPermanent),
			Message: "The message to send cannot be read back from the outbox; it was not sent. Write it again."}
	}
	body := make([]byte, base64.StdEncoding.EncodedLen(len(mime)))
	base64.StdEncoding.Encode(body, mime)
	resp, err := m.c.Do(ctx, cloudapi.Request{Method: http.MethodPost, URL: "/me/sendMail", Body: body, ContentType: "text/plain", Unrepeatable: true})
	if err != nil {
		return sendError(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmall))
	resp.Body.Close()
	return nil
}

// SavesSentMail says Graph files what it sends in Sent Items itself
// (mail.SentSaver): the outbox must not append a second copy.
func (*Mailbox) SavesSentMail() bool { return true }

// sendError words a refused send for the user and says whether trying
// again can help (mail.ErrPermanent) or the message may be gone already
// (mail.ErrUncertain). Throttling and an unavailable service stay
// transient: the outbox tries again after their Retry-After.
func sendError(err error) error {
	ce := connerr.As(err)
	if ce == nil {
		return err // stopped before anything was sent
	}
	out := *ce
	permanent := func(msg string) error {
		out.Message, out.Err = msg, errors.Join(ce.Err, mail.ErrPermanent)
		return &out
	}
	code := ""
	var se *cloudapi.StatusError
	if errors.As(err, &se) && se.Code != "" {
		code = " (Microsoft's reason: " + se.Code + ")"
	}
	switch st := cloudapi.Status(err); {
	case errors.Is(err, cloudapi.ErrOutcomeUnknown):
		out.Message, out.Err = "The connection to Microsoft failed while it was taking the message, so it may have been sent.", errors.Join(ce.Err, mail.ErrUncertain)
		return &out
	case st == http.StatusBadRequest:
		return permanent("Microsoft refused this message as invalid and did not send it" + code + ". Check its recipients and attachments, then send it again.")
	case st == http.StatusForbidden:
		return permanent("Microsoft does not allow crmsync to send mail from this mailbox" + code + ": sign in to Microsoft again and accept the permission to send mail, or ask an administrator to grant it. The message was not sent.")
	case st == http.StatusRequestEntityTooLarge:
		return permanent("This message is too large for Microsoft to send: remove or shrink its attachments and send it again.")
	case ce.Kind == connerr.Throttled:
		out.Message = "Microsoft limits how fast this mailbox may send for now; crmsync sends the message when it allows."
		return &out
	case ce.Kind == connerr.Unreachable:
		return err
	}
	return permanent("Microsoft did not send this message" + code + ": " + ce.Message)
}

// withBcc returns raw with a Bcc header naming the recipients of rcpts
// that no To or Cc header names.
func withBcc(raw []byte, rcpts []string) ([]byte, error) {
	h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(raw))).ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return nil, fmt.Errorf("graphmail: reading the header: %w", err)
	}
	named := map[string]bool{}
	for _, f := range []string{"To", "Cc"} {
		for _, v := range h.Values(f) {
			for _, tok := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("<>,;:\" \t", r) }) {
				if strings.Contains(tok, "@") {
					named[strings.ToLower(tok)] = true
				}
			}
		}
	}
	var bcc []string
	for _, r := range rcpts {
		if r = strings.TrimSpace(r); r != "" && !named[strings.ToLower(r)] {
			named[strings.ToLower(r)] = true
			bcc = append(bcc, r)
		}
	}
	if len(bcc) == 0 {
		return raw, nil
	}
	var b bytes.Buffer
	b.WriteString("Bcc: " + strings.Join(bcc, ",\r\n ") + "\r\n")
	b.Write(raw)
	return b.Bytes(), nil
}

// Search bounds: how many candidates one search reads. A server that
// ignored the filter would list the whole folder; past this, the message
// is taken as not found (the outbox then never sends it again: it asks
// the user).
const (
	searchPage  = 100
	searchPages = 20
)

// SearchMessageID finds the messages of folder whose Message-ID is
// messageID (mail.Searcher), by their internetMessageId. Every candidate's
// id is compared, so a server that lists more than asked finds no false
// match; one that refuses the filter is read page by page instead.
func (m *Mailbox) SearchMessageID(ctx context.Context, folder, messageID string) ([]mail.ID, error) {
	id, err := m.folderID(ctx, folder)
	if err != nil {
		return nil, err
	}
	want := strings.Trim(strings.TrimSpace(messageID), "<>")
	if want == "" {
		return nil, nil
	}
	base := "/me/mailFolders/" + url.PathEscape(id) + "/messages?$select=id,internetMessageId&$top=" + fmt.Sprint(searchPage)
	filter := "internetMessageId eq '<" + strings.ReplaceAll(want, "'", "''") + ">'"
	ids, err := m.search(ctx, base+"&$filter="+strings.ReplaceAll(url.QueryEscape(filter), "+", "%20"), want)
	if cloudapi.Status(err) == http.StatusBadRequest {
		return m.search(ctx, base, want)
	}
	return ids, err
}

func (m *Mailbox) search(ctx context.Context, u, want string) ([]mail.ID, error) {
	var out []mail.ID
	for pages := 0; u != "" && pages < searchPages; pages++ {
		var page struct {
			Value []struct {
				ID                string `json:"id"`
				InternetMessageID string `json:"internetMessageId"`
			} `json:"value"`
			Next string `json:"@odata.nextLink"`
		}
		if err := m.getJSON(ctx, u, maxPage, &page); err != nil {
			return nil, err
		}
		for _, v := range page.Value {
			if v.ID != "" && strings.Trim(strings.TrimSpace(v.InternetMessageID), "<>") == want {
				out = append(out, mail.ID(v.ID))
			}
		}
		u = page.Next
	}
	return out, nil
}
