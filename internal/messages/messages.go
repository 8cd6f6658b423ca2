// Package messages holds the workflows on a user's mail that the REST API
// (POST /api/v1/messages/send, GET …/attachments/{n}) and the web app
// (the compose page, a message's attachments) both run: sending a message
// through the outbox, and fetching an attachment from the mail server.
// Each front end decodes its own request and maps Error to its answer;
// the checks, the building of the message and the store calls are here,
// once.
package messages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/store"
)

// Limits of a message sent from crmsync.
const (
	MaxAttachmentBytes = 20 << 20 // decoded content, all attachments together
	MaxSubject         = 998      // RFC 5322 §2.1.1 line length
	MaxBodyText        = 5 << 20  // text and html, each
	MaxFilename        = 255
	MaxRecipients      = 100 // per list
)

// Codes of Error, stable words the front ends show or switch on.
const (
	CodeRequired     = crm.CodeRequired
	CodeInvalid      = crm.CodeInvalid
	CodeNotFound     = "not_found"     // a referenced record (mailbox, linked record) the viewer cannot see
	CodeCannotSend   = "cannot_send"   // the mailbox cannot send: forwarding mode, disconnected, no SMTP server
	CodeFromMismatch = "from_mismatch" // the mailbox is not the sender's primary address
	CodeForbidden    = "forbidden"
)

// The kinds of Error, for errors.Is; each front end maps them once (the
// REST API: 422, 403, 404).
var (
	// ErrInvalid: the request cannot be sent as it is; Field names what
	// to change.
	ErrInvalid = errors.New("messages: invalid request")
	// ErrForbidden: the caller may not do this (send from a colleague's
	// mailbox).
	ErrForbidden = errors.New("messages: forbidden")
	// ErrNotFound: the thing asked for does not exist for the viewer (an
	// attachment number past the message's attachments). A message the
	// viewer cannot see is the store's store.ErrNotFound.
	ErrNotFound = errors.New("messages: not found")
)

// Error is a refused request: Kind is one of the Err… values, Code a
// stable word, Field (when set) the part of the request at fault, as the
// REST API names it ("to[1]", "account_id"), Message what to do, for the
// user.
type Error struct {
	Kind    error
	Code    string
	Field   string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%v: %s: %s", e.Kind, e.Code, e.Message) }

// Unwrap makes errors.Is(err, ErrInvalid) work.
func (e *Error) Unwrap() error { return e.Kind }

func refuse(code, field, format string, args ...any) *Error {
	return &Error{Kind: ErrInvalid, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

func required(field, format string, args ...any) *Error {
	return refuse(CodeRequired, field, format, args...)
}

func invalid(field, format string, args ...any) *Error {
	return refuse(CodeInvalid, field, format, args...)
}

// AttachmentFetcher streams an attachment of a stored message from its
// mail server (the mail connector).
type AttachmentFetcher interface {
	Attachment(ctx context.Context, a crm.MailAccount, e crm.Email, index int, w io.Writer) error
}

// Config is what the Service needs.
type Config struct {
	Store store.Store
	// Mail fetches attachments; nil: Attachment answers ErrUnavailable.
	Mail AttachmentFetcher
	// Wake tells this process's sync loop of an account that a message
	// was queued for it, so that it is sent at once (nil: at its next
	// pass).
	Wake   func(accountID int64)
	Now    func() time.Time
	Logger *slog.Logger
}

// Service runs the workflows.
type Service struct {
	st   store.Store
	mail AttachmentFetcher
	wake func(int64)
	now  func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{st: cfg.Store, mail: cfg.Mail, wake: cfg.Wake, now: cfg.Now}
}

// ErrUnavailable: the server runs no mail connector.
var ErrUnavailable = errors.New("messages: mail is not enabled on this server")

// SendRequest is a message to send, as the user gave it: addresses not
// yet checked, links to records not yet checked.
type SendRequest struct {
	AccountID   int64
	To, Cc, Bcc []crm.Address
	Subject     string
	Text, HTML  string
	Attachments []crm.SendAttachment
	Links       []crm.LinkRef
	InReplyTo   string
}

// Send queues a message to send from one of the user's mailboxes and
// returns its outbox item; the account's sync loop sends it (and retries,
// and stores the sent copy). Refusals are *Error.
func (s *Service) Send(ctx context.Context, v crm.Viewer, user crm.User, req SendRequest) (crm.OutboxItem, error) {
	if req.AccountID == 0 {
		return crm.OutboxItem{}, required("account_id", "Choose the mailbox to send from.")
	}
	a, err := s.st.GetMailAccount(ctx, v, req.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return crm.OutboxItem{}, refuse(CodeNotFound, "account_id", "account_id: no mailbox with this id that you can see.")
	}
	if err != nil {
		return crm.OutboxItem{}, err
	}
	if err := CanSend(a, v, user); err != nil {
		return crm.OutboxItem{}, err
	}
	send := crm.SendRequest{Subject: req.Subject, Text: req.Text, HTML: req.HTML}
	if send.To, err = addresses("to", req.To); err != nil {
		return crm.OutboxItem{}, err
	}
	if send.Cc, err = addresses("cc", req.Cc); err != nil {
		return crm.OutboxItem{}, err
	}
	if send.Bcc, err = addresses("bcc", req.Bcc); err != nil {
		return crm.OutboxItem{}, err
	}
	if len(send.To)+len(send.Cc)+len(send.Bcc) == 0 {
		return crm.OutboxItem{}, required("to", "The message needs at least one recipient in to, cc or bcc.")
	}
	if n := utf8.RuneCountInString(req.Subject); n > MaxSubject {
		return crm.OutboxItem{}, invalid("subject", "subject must be at most %d characters (it has %d).", MaxSubject, n)
	}
	if len(req.Text) > MaxBodyText {
		return crm.OutboxItem{}, invalid("text", "text must be at most %d MiB.", MaxBodyText>>20)
	}
	if len(req.HTML) > MaxBodyText {
		return crm.OutboxItem{}, invalid("html", "html must be at most %d MiB.", MaxBodyText>>20)
	}
	if send.Attachments, err = attachments(req.Attachments); err != nil {
		return crm.OutboxItem{}, err
	}
	if send.Links, err = s.links(ctx, v, req.Links); err != nil {
		return crm.OutboxItem{}, err
	}
	if req.InReplyTo != "" {
		id := strings.Trim(strings.TrimSpace(req.InReplyTo), "<>")
		if len(id) > 250 || !strings.Contains(id, "@") || strings.ContainsAny(id, " \t\r\n<>\"") {
			return crm.OutboxItem{}, invalid("in_reply_to", "in_reply_to must be the Message-ID of the message answered, like abc@example.com (the message_id of a stored message).")
		}
		send.InReplyTo = id
	}

	// The message is built once, here: every attempt sends the same bytes,
	// and its Message-ID finds it in the Sent folder.
	from := crm.Address{Name: user.Name, Email: a.Email}
	msgID := compose.NewMessageID(a.Email)
	raw, err := compose.Build(send, from, msgID, s.now())
	if err != nil {
		return crm.OutboxItem{}, invalid("", "The message cannot be built: %s.", strings.TrimPrefix(err.Error(), "compose: invalid message: "))
	}
	// The attachments travel in the raw message; the request keeps their
	// names and types only.
	for i := range send.Attachments {
		send.Attachments[i].Content = nil
	}
	it, err := s.st.EnqueueMail(ctx, v, crm.OutboxItem{AccountID: a.ID, MessageID: msgID, From: from, Request: send, Raw: raw})
	if err != nil {
		return crm.OutboxItem{}, err
	}
	if s.wake != nil {
		s.wake(a.ID)
	}
	return it, nil
}

// CanSend checks that user may send from a: their own mailbox, in sync
// mode with an SMTP server (or a provider that sends, such as Microsoft),
// and their primary address. Front ends also use it to offer only the
// mailboxes that can send.
func CanSend(a crm.MailAccount, v crm.Viewer, user crm.User) error {
	cannot := func(format string, args ...any) error {
		return refuse(CodeCannotSend, "account_id", format, args...)
	}
	if a.UserID != user.ID {
		return &Error{Kind: ErrForbidden, Code: CodeForbidden, Field: "account_id",
			Message: "You can send only from your own mailboxes; this one belongs to another user."}
	}
	switch {
	case a.DisconnectedAt != nil:
		return cannot("This mailbox is disconnected: reconnect it to send from it.")
	case a.Mode != crm.ModeSync:
		return cannot("This mailbox is connected in forwarding mode: crmsync receives copies of its mail but cannot send from it. Connect it in sync mode to send.")
	case !a.HasSubmission():
		return cannot("This mailbox has no SMTP server: add one in its settings to send from it.")
	}
	if !strings.EqualFold(strings.TrimSpace(a.Email), strings.TrimSpace(user.Email)) {
		// Only an admin may change a user's email: a member is told whom
		// to ask, not to do what they cannot.
		change := "Change the address on your profile"
		if !v.CanAdminister() {
			change = "Ask an admin of your organisation to change the address on your profile"
		}
		return refuse(CodeFromMismatch, "account_id",
			"Messages are sent from the primary address of your CRM profile, %s, but this mailbox is %s. %s to %s, or send from the mailbox with the address %s.",
			user.Email, a.Email, change, a.Email, user.Email)
	}
	return nil
}

// addresses checks a recipient list, naming the item at fault ("to[1]").
func addresses(field string, in []crm.Address) ([]crm.Address, error) {
	if len(in) > MaxRecipients {
		return nil, invalid(field, "%s may hold at most %d addresses.", field, MaxRecipients)
	}
	out := make([]crm.Address, 0, len(in))
	for i, a := range in {
		f := fmt.Sprintf("%s[%d]", field, i)
		if strings.TrimSpace(a.Email) == "" {
			return nil, required(f, "%s needs an email address.", f)
		}
		email, err := crm.NormalizeEmail(a.Email)
		if err != nil {
			return nil, invalid(f, "%s (%q) %s.", f, a.Email, strings.TrimSuffix(err.Error(), "."))
		}
		name := strings.TrimSpace(a.Name)
		if strings.ContainsAny(name, "\r\n\x00") {
			return nil, invalid(f+".name", "%s.name must be on one line.", f)
		}
		if n := utf8.RuneCountInString(name); n > crm.MaxName {
			return nil, invalid(f+".name", "%s.name must be at most %d characters (it has %d).", f, crm.MaxName, n)
		}
		out = append(out, crm.Address{Name: name, Email: email})
	}
	return out, nil
}

func attachments(in []crm.SendAttachment) ([]crm.SendAttachment, error) {
	if len(in) > crm.MaxListItems {
		return nil, invalid("attachments", "attachments may hold at most %d files.", crm.MaxListItems)
	}
	var total int
	out := make([]crm.SendAttachment, 0, len(in))
	for i, a := range in {
		f := fmt.Sprintf("attachments[%d]", i)
		name := strings.TrimSpace(a.Filename)
		if name == "" {
			return nil, required(f+".filename", "%s.filename is required: the file's name as the recipients will see it.", f)
		}
		if utf8.RuneCountInString(name) > MaxFilename || strings.ContainsAny(name, "\r\n\x00/\\") {
			return nil, invalid(f+".filename", "%s.filename must be a file name of at most %d characters, without / or \\.", f, MaxFilename)
		}
		ct := strings.TrimSpace(a.ContentType)
		if ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || !strings.Contains(mt, "/") || strings.HasPrefix(mt, "multipart/") || strings.HasPrefix(mt, "message/") {
				return nil, invalid(f+".content_type", "%s.content_type must be a media type like application/pdf (or empty: guessed from the file name).", f)
			}
		}
		total += len(a.Content)
		out = append(out, crm.SendAttachment{Filename: name, ContentType: ct, Content: a.Content})
	}
	if total > MaxAttachmentBytes {
		return nil, invalid("attachments", "Attachments may total at most %d MiB (these are %.1f MiB). Send fewer or smaller files, or share them by link.", MaxAttachmentBytes>>20, float64(total)/(1<<20))
	}
	return out, nil
}

// links checks the records to link: records the viewer may see (sent mail
// is theirs, linked as they would by hand); duplicates are dropped.
func (s *Service) links(ctx context.Context, v crm.Viewer, in []crm.LinkRef) ([]crm.LinkRef, error) {
	if len(in) > crm.MaxListItems {
		return nil, invalid("links", "links may hold at most %d records.", crm.MaxListItems)
	}
	out := make([]crm.LinkRef, 0, len(in))
	for i, l := range in {
		f := fmt.Sprintf("links[%d]", i)
		err := RecordVisible(ctx, s.st, v, l.Type, l.ID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, refuse(CodeNotFound, f+".id", "%s.id: no %s with this id that you can see.", f, l.Type)
		}
		if err != nil {
			return nil, err
		}
		dup := false
		for _, o := range out {
			dup = dup || o == l
		}
		if !dup {
			out = append(out, l)
		}
	}
	return out, nil
}

// RecordVisible answers store.ErrNotFound for a CRM record the viewer may
// not see.
func RecordVisible(ctx context.Context, st store.Store, v crm.Viewer, t crm.LinkType, id int64) error {
	var err error
	switch t {
	case crm.LinkCompany:
		_, err = st.GetCompany(ctx, v, id)
	case crm.LinkContact:
		_, err = st.GetContact(ctx, v, id)
	case crm.LinkOpportunity:
		_, err = st.GetOpportunity(ctx, v, id)
	default:
		return invalid("type", "%q is not a link type: use company, contact or opportunity.", t)
	}
	return err
}

// Attachment finds attachment n of message id for the viewer: its name
// and type to label the download, and fetch, which streams its content
// from the mail server into w (a *connerr.Error when the server fails).
func (s *Service) Attachment(ctx context.Context, v crm.Viewer, id int64, n int) (crm.AttachmentInfo, func(w io.Writer) error, error) {
	if s.mail == nil {
		return crm.AttachmentInfo{}, nil, ErrUnavailable
	}
	e, err := s.st.GetEmail(ctx, v, id)
	if err != nil {
		return crm.AttachmentInfo{}, nil, err
	}
	if n < 0 || n >= len(e.Attachments) {
		return crm.AttachmentInfo{}, nil, &Error{Kind: ErrNotFound, Code: CodeNotFound, Field: "n",
			Message: fmt.Sprintf("This message has %d attachments, numbered from 0.", len(e.Attachments))}
	}
	a, err := s.st.GetMailAccount(ctx, v, e.AccountID)
	if err != nil {
		return crm.AttachmentInfo{}, nil, err
	}
	return e.Attachments[n], func(w io.Writer) error { return s.mail.Attachment(ctx, a, e, n, w) }, nil
}

// Link links message id to a record by hand and returns the message's
// links. A manual link is never undone by automatic linking. The store
// checks that the viewer may see both: the message (store.ErrNotFound)
// and the record (a store.FieldError on "id", code not_found).
func (s *Service) Link(ctx context.Context, v crm.Viewer, id int64, t crm.LinkType, target int64) ([]crm.EmailLink, error) {
	if err := s.st.SetLink(ctx, v, id, t, target, true); err != nil {
		return nil, err
	}
	e, err := s.st.GetEmail(ctx, v, id)
	if err != nil {
		return nil, err
	}
	return e.Links, nil
}

// Unlink removes a link of message id by hand, automatic or manual; the
// unlink is remembered: automatic linking never links the two again. A
// message the viewer cannot see is store.ErrNotFound; a record not
// linked that they cannot see, an *Error of kind ErrNotFound.
func (s *Service) Unlink(ctx context.Context, v crm.Viewer, id int64, t crm.LinkType, target int64) error {
	e, err := s.st.GetEmail(ctx, v, id)
	if err != nil {
		return err
	}
	// A link the message shows may be removed even when it names a record
	// the viewer cannot open (a colleague's company). Unlinking ahead of
	// time, a record not linked (yet), needs one the viewer may see: an
	// unlink of an unknown id would only be clutter.
	if !slices.ContainsFunc(e.Links, func(l crm.EmailLink) bool { return l.Type == t && l.ID == target }) {
		err := RecordVisible(ctx, s.st, v, t, target)
		if errors.Is(err, store.ErrNotFound) {
			return &Error{Kind: ErrNotFound, Code: CodeNotFound,
				Message: fmt.Sprintf("No %s with this id exists, or you do not have access to it.", t)}
		}
		if err != nil {
			return err
		}
	}
	return s.st.SetLink(ctx, v, id, t, target, false)
}
