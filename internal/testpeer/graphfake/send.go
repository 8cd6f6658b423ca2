package graphfake

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sending, listing and attachments (reference §6.3–§6.5): POST sendMail
// with a MIME (base64, text/plain) or JSON body, saved to Sent Items unless
// saveToSentItems is false, so that the folder's delta brings it; GET
// messages (a folder's or the mailbox's) with $top/$skip paging and
// $filter on internetMessageId; a message's attachments listed, one read
// with contentBytes, or its bytes from $value.

func init() {
	for _, p := range []string{"sendMail", "sendmail"} {
		routes = append(routes, route{prefix: p, serve: func(g *Graph, w http.ResponseWriter, r *http.Request, path string) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.sendMail(w, r)
		}})
	}
}

// maxSendBody bounds a sendMail body (the fake's own limit; Graph's
// request limit is larger than any test's message).
const maxSendBody = 64 << 20

// sendState is what the mailbox sent, and the switches of sending.
type sendState struct {
	owner  string
	sent   []Sent
	refuse []refusal
}

type refusal struct {
	status     int
	code       string
	afterSaved bool // the message is sent and saved, then the answer fails
}

// Sent is one message Graph accepted for delivery.
type Sent struct {
	Raw        []byte   // the MIME as Graph delivers it (Bcc removed)
	Recipients []string // To, Cc and Bcc addresses, lower-cased
	MessageID  string   // internetMessageId, with angle brackets
	SavedID    string   // the immutable id of the copy in Sent Items; "" when not saved
}

// SetOwner sets the mailbox's address: the From of a message sent as JSON.
func (g *Graph) SetOwner(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mail.send.owner = addr
}

// SentMail returns the messages accepted for delivery so far, in order.
func (g *Graph) SentMail() []Sent {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]Sent(nil), g.mail.send.sent...)
}

// RefuseSend makes the next sendMail answer status with error code code,
// sending nothing.
func (g *Graph) RefuseSend(status int, code string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mail.send.refuse = append(g.mail.send.refuse, refusal{status: status, code: code})
}

// FailAfterSend makes the next sendMail send and save the message, then
// answer status (a 504, say): the client cannot tell that it was sent.
func (g *Graph) FailAfterSend(status int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mail.send.refuse = append(g.mail.send.refuse, refusal{status: status, code: "UnknownError", afterSaved: true})
}

func (g *Graph) sendMail(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
		return
	}
	st := &g.mail.send
	var fail *refusal
	if len(st.refuse) > 0 {
		fail = &st.refuse[0]
		st.refuse = st.refuse[1:]
		if !fail.afterSaved {
			graphError(w, fail.status, fail.code, "The message was not sent.")
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxSendBody+1))
	if err != nil || len(body) > maxSendBody {
		graphError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request is too large.")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var raw []byte
	save := true
	switch ct {
	case "text/plain":
		raw, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		if err != nil || len(raw) == 0 {
			graphError(w, http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
			return
		}
	case "application/json":
		var req jsonSend
		if err := json.Unmarshal(body, &req); err != nil || req.Message == nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", "The body is not a sendMail request.")
			return
		}
		if req.SaveToSentItems != nil {
			save = *req.SaveToSentItems
		}
		if raw, err = req.Message.mime(st.owner, g.now()); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
			return
		}
	default:
		graphError(w, http.StatusUnsupportedMediaType, "invalidRequest", "The body must be JSON or base64 MIME as text/plain.")
		return
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		graphError(w, http.StatusBadRequest, "ErrorMimeContentInvalid", "The MIME content is invalid.")
		return
	}
	var rcpts []string
	for _, f := range []string{"To", "Cc", "Bcc"} {
		if list, err := msg.Header.AddressList(f); err == nil {
			for _, a := range list {
				rcpts = append(rcpts, strings.ToLower(a.Address))
			}
		}
	}
	if len(rcpts) == 0 {
		graphError(w, http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient is not valid.")
		return
	}
	if msg.Header.Get("Message-ID") == "" {
		raw = append([]byte("Message-ID: <"+randomID()+"@fake.outlook.example>\r\n"), raw...)
	}
	out := Sent{Raw: withoutHeader(raw, "Bcc"), Recipients: rcpts, MessageID: header(raw, "Message-ID")}
	if save {
		s := g.mail
		s.seq++
		m := &fakeMessage{id: "AAkALg" + randomID(), folder: s.folder("sentitems").id, raw: raw, isRead: true,
			flagStatus: "notFlagged", received: g.now().UTC().Truncate(time.Second), added: s.seq, seq: s.seq}
		s.messages[m.id] = m
		out.SavedID = m.id
	}
	st.sent = append(st.sent, out)
	if fail != nil {
		graphError(w, fail.status, fail.code, "The service failed.")
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// withoutHeader drops a header field (and its continuation lines).
func withoutHeader(raw []byte, name string) []byte {
	head, body, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	var out []string
	skip := false
	for _, l := range strings.Split(string(head), "\r\n") {
		if l != "" && (l[0] == ' ' || l[0] == '\t') {
			if !skip {
				out = append(out, l)
			}
			continue
		}
		k, _, _ := strings.Cut(l, ":")
		skip = strings.EqualFold(strings.TrimSpace(k), name)
		if !skip {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\r\n") + "\r\n\r\n" + string(body))
}

// jsonSend is sendMail's JSON body (§6.4).
type jsonSend struct {
	Message         *jsonMessage `json:"message"`
	SaveToSentItems *bool        `json:"saveToSentItems"`
}

type jsonRecipient struct {
	EmailAddress struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	} `json:"emailAddress"`
}

type jsonMessage struct {
	Subject string `json:"subject"`
	Body    struct {
		ContentType string `json:"contentType"`
		Content     string `json:"content"`
	} `json:"body"`
	To      []jsonRecipient `json:"toRecipients"`
	Cc      []jsonRecipient `json:"ccRecipients"`
	Bcc     []jsonRecipient `json:"bccRecipients"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"internetMessageHeaders"`
	Attachments []struct {
		Type         string `json:"@odata.type"`
		Name         string `json:"name"`
		ContentType  string `json:"contentType"`
		ContentBytes string `json:"contentBytes"`
	} `json:"attachments"`
}

// mime renders a JSON message as the MIME Graph would make of it.
func (m *jsonMessage) mime(owner string, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	list := func(name string, rs []jsonRecipient) error {
		var as []string
		for _, r := range rs {
			if _, err := mail.ParseAddress(r.EmailAddress.Address); err != nil {
				return fmt.Errorf("invalid recipient %q", r.EmailAddress.Address)
			}
			as = append(as, (&mail.Address{Name: r.EmailAddress.Name, Address: r.EmailAddress.Address}).String())
		}
		if len(as) > 0 {
			fmt.Fprintf(&b, "%s: %s\r\n", name, strings.Join(as, ", "))
		}
		return nil
	}
	if owner == "" {
		owner = "me@fake.outlook.example"
	}
	fmt.Fprintf(&b, "From: %s\r\nDate: %s\r\nMessage-ID: <%s@fake.outlook.example>\r\nSubject: %s\r\n",
		owner, now.Format(time.RFC1123Z), randomID(), mime.QEncoding.Encode("utf-8", m.Subject))
	for _, l := range []struct {
		name string
		rs   []jsonRecipient
	}{{"To", m.To}, {"Cc", m.Cc}, {"Bcc", m.Bcc}} {
		if err := list(l.name, l.rs); err != nil {
			return nil, err
		}
	}
	for _, h := range m.Headers {
		// Graph takes only custom headers, named x-… .
		if !strings.HasPrefix(strings.ToLower(h.Name), "x-") || strings.ContainsAny(h.Name+h.Value, "\r\n") {
			return nil, fmt.Errorf("invalid internet message header %q", h.Name)
		}
		fmt.Fprintf(&b, "%s: %s\r\n", h.Name, h.Value)
	}
	textType := "text/plain"
	if strings.EqualFold(m.Body.ContentType, "html") {
		textType = "text/html"
	}
	b.WriteString("MIME-Version: 1.0\r\n")
	if len(m.Attachments) == 0 {
		fmt.Fprintf(&b, "Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", textType, wrap64([]byte(m.Body.Content)))
		return b.Bytes(), nil
	}
	bnd := "fake_" + randomID()
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%q\r\n\r\n", bnd)
	fmt.Fprintf(&b, "--%s\r\nContent-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n", bnd, textType, wrap64([]byte(m.Body.Content)))
	for _, a := range m.Attachments {
		if !strings.EqualFold(a.Type, "#microsoft.graph.fileAttachment") {
			return nil, fmt.Errorf("unsupported attachment type %q", a.Type)
		}
		data, err := base64.StdEncoding.DecodeString(a.ContentBytes)
		if err != nil {
			return nil, fmt.Errorf("invalid contentBytes of %q", a.Name)
		}
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		fmt.Fprintf(&b, "--%s\r\nContent-Type: %s\r\nContent-Disposition: %s\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			bnd, ct, mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}), wrap64(data))
	}
	fmt.Fprintf(&b, "--%s--\r\n", bnd)
	return b.Bytes(), nil
}

func wrap64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var lines []string
	for len(s) > 76 {
		lines, s = append(lines, s[:76]), s[76:]
	}
	return strings.Join(append(lines, s), "\r\n")
}

// listMessages answers GET messages of a folder (nil: the whole mailbox),
// newest first, $top at a time (default 10, §4) with a $skip nextLink.
// $filter takes internetMessageId eq '…' (quotes doubled inside);
// anything else is refused.
func (g *Graph) listMessages(w http.ResponseWriter, r *http.Request, f *fakeFolder, immutable bool) {
	q := r.URL.Query()
	want, filtered := "", false
	if v := strings.TrimSpace(q.Get("$filter")); v != "" {
		rest, ok := strings.CutPrefix(v, "internetMessageId eq '")
		if !ok || !strings.HasSuffix(rest, "'") {
			graphError(w, http.StatusBadRequest, "invalidRequest", "The filter is not supported.")
			return
		}
		want, filtered = strings.ReplaceAll(strings.TrimSuffix(rest, "'"), "''", "'"), true
	}
	top, _ := strconv.Atoi(q.Get("$top"))
	if top <= 0 || top > 1000 {
		top = 10
	}
	skip, _ := strconv.Atoi(q.Get("$skip"))
	var ms []*fakeMessage
	for _, m := range g.mail.messages {
		if (f == nil || m.folder == f.id) && (!filtered || header(m.raw, "Message-ID") == want) {
			ms = append(ms, m)
		}
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].added > ms[j].added })
	value := []map[string]any{}
	for _, m := range ms[min(skip, len(ms)):min(skip+top, len(ms))] {
		value = append(value, g.messageJSON(m, immutable, true))
	}
	page := map[string]any{"value": value}
	if skip+top < len(ms) {
		page["@odata.nextLink"] = skipLink(r, skip+top, top)
	}
	writeGraphJSON(w, page)
}

// fakeAttachment is one attachment of a message's MIME.
type fakeAttachment struct {
	id, name, contentType, contentID string
	inline, item                     bool
	data                             []byte
}

func (a fakeAttachment) json(withBytes bool) map[string]any {
	typ := "#microsoft.graph.fileAttachment"
	if a.item {
		typ = "#microsoft.graph.itemAttachment"
	}
	out := map[string]any{"@odata.type": typ, "id": a.id, "name": a.name, "contentType": a.contentType,
		"size": len(a.data), "isInline": a.inline}
	if !a.item {
		out["contentId"] = a.contentID
		if withBytes {
			out["contentBytes"] = base64.StdEncoding.EncodeToString(a.data)
		}
	}
	return out
}

// serveAttachments answers seg (after messages/{id}/attachments):
// the list, one attachment, or its $value.
func (g *Graph) serveAttachments(w http.ResponseWriter, r *http.Request, m *fakeMessage, seg []string) {
	if r.Method != http.MethodGet {
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
		return
	}
	atts := attachmentsOf(m)
	if len(seg) == 0 {
		withBytes := true
		if sel := r.URL.Query().Get("$select"); sel != "" {
			withBytes = strings.Contains(strings.ToLower(sel), "contentbytes")
		}
		value := []map[string]any{}
		for _, a := range atts {
			value = append(value, a.json(withBytes))
		}
		writeGraphJSON(w, map[string]any{"value": value})
		return
	}
	for _, a := range atts {
		if a.id != seg[0] {
			continue
		}
		switch {
		case len(seg) == 1:
			writeGraphJSON(w, a.json(true))
		case len(seg) == 2 && seg[1] == "$value":
			ct := a.contentType
			if a.item {
				ct = "message/rfc822"
			}
			w.Header().Set("Content-Type", ct)
			w.Header().Set("Content-Length", strconv.Itoa(len(a.data)))
			w.Write(a.data)
		default:
			graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported segment.")
		}
		return
	}
	graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
}

// attachmentsOf walks a message's MIME: every part with a file name or an
// attachment disposition, and every attached message (an item
// attachment), in MIME order. Ids are opaque and stable per message.
func attachmentsOf(m *fakeMessage) []fakeAttachment {
	msg, err := mail.ReadMessage(bytes.NewReader(m.raw))
	if err != nil {
		return nil
	}
	var out []fakeAttachment
	var walk func(h textproto.MIMEHeader, body io.Reader, depth int)
	walk = func(h textproto.MIMEHeader, body io.Reader, depth int) {
		ct, params, err := mime.ParseMediaType(h.Get("Content-Type"))
		if err != nil {
			ct, params = "text/plain", nil
		}
		if strings.HasPrefix(ct, "multipart/") && depth < 16 {
			mr := multipart.NewReader(body, params["boundary"])
			for {
				p, err := mr.NextRawPart()
				if err != nil {
					return
				}
				walk(p.Header, p, depth+1)
			}
		}
		disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
		name := dparams["filename"]
		if name == "" {
			name = params["name"]
		}
		if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = dec
		}
		data, _ := io.ReadAll(decodeBody(h, body))
		a := fakeAttachment{name: name, contentType: ct, contentID: strings.Trim(h.Get("Content-ID"), "<> "), inline: disp == "inline", data: data}
		switch {
		case ct == "message/rfc822" && depth > 0:
			a.item = true
			if a.name == "" {
				a.name = header(data, "Subject")
			}
		case name == "" && disp != "attachment":
			return // a body part
		}
		a.id = "AAMkAtt" + base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%s/%d", m.id, len(out))))
		out = append(out, a)
	}
	walk(textproto.MIMEHeader(msg.Header), msg.Body, 0)
	return out
}

func decodeBody(h textproto.MIMEHeader, body io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		return quotedprintable.NewReader(body)
	}
	return bufio.NewReader(body)
}
