package crm

import "time"

// MailMode is how a mailbox reaches crmsync.
type MailMode string

const (
	ModeSync    MailMode = "sync"    // two-way synchronisation with the server
	ModeForward MailMode = "forward" // the user forwards or BCCs mail to a dropbox address
)

// AccountState is what a user sees of a mail account (DESIGN §5).
type AccountState string

const (
	StateConnecting      AccountState = "connecting"
	StateInitialSync     AccountState = "initial_sync"
	StateSynced          AccountState = "synced"
	StateSyncing         AccountState = "syncing"
	StateAuthFailed      AccountState = "auth_failed"
	StateProviderBlocked AccountState = "provider_blocked"
	StateUnreachable     AccountState = "unreachable"
	StateThrottled       AccountState = "throttled"
	StateSyncError       AccountState = "sync_error"
	StateDisconnected    AccountState = "disconnected"
)

// ServerSettings is how to reach one server (IMAP or SMTP).
type ServerSettings struct {
	Host     string `json:"host"`
	Port     int    `json:"port"`
	Security string `json:"security"` // tls | starttls | none
	Username string `json:"username"`
	// OwnPassword says the server logs in with a password of its own, not
	// the mailbox's (an SMTP server whose password differs from IMAP's);
	// it is sealed under MailAccount.SMTPCredentialID.
	OwnPassword bool `json:"own_password,omitempty"`
}

// MailSettings is an account's servers and choices.
type MailSettings struct {
	IMAP *ServerSettings `json:"imap,omitempty"`
	SMTP *ServerSettings `json:"smtp,omitempty"`
	// Source says where the settings came from: "manual", "org", or an
	// autoconfig source ("builtin", "autoconfig-xml", "srv", "mx", "guess").
	Source string `json:"source,omitempty"`
	// AllowPlaintext lets the password cross the network unencrypted; only
	// an admin may set it.
	AllowPlaintext bool `json:"allow_plaintext,omitempty"`
}

// MailAccount is a connected mailbox.
type MailAccount struct {
	ID             int64        `json:"id"`
	OrgID          int64        `json:"-"`
	UserID         int64        `json:"user_id"`
	Email          string       `json:"email"`
	Provider       string       `json:"provider"` // imap, office365, gmail, exchange
	Mode           MailMode     `json:"mode"`
	Settings       MailSettings `json:"settings"`
	CredentialID   string       `json:"-"`
	State          AccountState `json:"state"`
	ErrorCode      string       `json:"-"`
	ErrorMessage   string       `json:"-"`
	ProgressDone   int64        `json:"-"`
	ProgressTotal  int64        `json:"-"`
	Failures       int          `json:"-"`
	LastSyncAt     *time.Time   `json:"last_sync_at"`
	NextAttemptAt  *time.Time   `json:"next_attempt_at"`
	Audit          string       `json:"-"`
	DisconnectedAt *time.Time   `json:"disconnected_at,omitempty"`
	// DropboxToken is the local part of a forwarding-mode account's
	// dropbox address.
	DropboxToken  string     `json:"-"`
	RetainedUntil *time.Time `json:"retained_until,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// Address is one participant of an email.
type Address struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// Participants are an email's addresses by header.
type Participants struct {
	From    []Address `json:"from"`
	Sender  []Address `json:"sender,omitempty"`
	ReplyTo []Address `json:"reply_to,omitempty"`
	To      []Address `json:"to"`
	Cc      []Address `json:"cc"`
	Bcc     []Address `json:"bcc,omitempty"`
}

// Flags are the message states synchronised both ways.
type Flags struct {
	Seen     bool `json:"seen"`
	Flagged  bool `json:"flagged"`
	Answered bool `json:"answered"`
	Draft    bool `json:"draft"`
}

// Bits packs flags for storage.
func (f Flags) Bits() int64 {
	var b int64
	for i, on := range []bool{f.Seen, f.Flagged, f.Answered, f.Draft} {
		if on {
			b |= 1 << i
		}
	}
	return b
}

// FlagsFromBits unpacks stored flags.
func FlagsFromBits(b int64) Flags {
	return Flags{Seen: b&1 != 0, Flagged: b&2 != 0, Answered: b&4 != 0, Draft: b&8 != 0}
}

// AttachmentInfo describes an attachment of a stored email.
type AttachmentInfo struct {
	Index       int    `json:"index"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	ContentID   string `json:"content_id,omitempty"`
	Inline      bool   `json:"inline"`
}

// Email is a stored message.
type Email struct {
	ID        int64  `json:"id"`
	OrgID     int64  `json:"-"`
	OwnerID   int64  `json:"-"`
	AccountID int64  `json:"account_id"`
	FolderID  *int64 `json:"-"`
	Folder    string `json:"folder"`
	// RemoteID is the message's id in its folder on the provider, opaque
	// (its connector's, see mail.ID); "" for mail that came by forwarding.
	RemoteID string `json:"-"`
	// GlobalID says RemoteID names the message in the whole mailbox and
	// stays when it moves between folders (mail.GlobalIDs): the store may
	// then re-attach it by id from another folder.
	GlobalID     bool         `json:"-"`
	MessageID    string       `json:"message_id"`
	InReplyTo    []string     `json:"in_reply_to"`
	References   []string     `json:"references"`
	Subject      string       `json:"subject"`
	Date         time.Time    `json:"date"`
	Participants Participants `json:"participants"`
	Text         string       `json:"text,omitempty"`
	HTML         string       `json:"html,omitempty"`
	// RemoteImages counts the images of HTML that would load from the
	// sender's servers, turned off as it is shown (tracking pixels).
	RemoteImages int              `json:"remote_images,omitempty"`
	Truncated    bool             `json:"truncated,omitempty"`
	Attachments  []AttachmentInfo `json:"attachments"`
	Warnings     []string         `json:"warnings"`
	Flags        Flags            `json:"flags"`
	Size         int64            `json:"size"`
	Hash         string           `json:"-"`
	Links        []EmailLink      `json:"links"`
	CreatedAt    time.Time        `json:"created_at"`
}

// MailService is an organisation's mail service, chosen once by an admin
// so that users connect with only their address and password.
type MailService struct {
	Kind           string          `json:"kind"` // imap (office365, gmail, exchange later)
	IMAP           *ServerSettings `json:"imap,omitempty"`
	SMTP           *ServerSettings `json:"smtp,omitempty"`
	AllowPlaintext bool            `json:"allow_plaintext"`
}

// LinkType is the kind of record an email is linked to.
type LinkType string

const (
	LinkCompany     LinkType = "company"
	LinkContact     LinkType = "contact"
	LinkOpportunity LinkType = "opportunity"
)

// Valid reports whether t is a known link type.
func (t LinkType) Valid() bool { return t == LinkCompany || t == LinkContact || t == LinkOpportunity }

// EmailLink ties an email to a CRM record. Source "auto" links come from
// the email's addresses; "manual" ones from a person, and automatic
// linking never undoes them. A manual unlink is kept as State "unlinked".
type EmailLink struct {
	Type      LinkType  `json:"type"`
	ID        int64     `json:"id"`
	Source    string    `json:"source"` // auto | manual
	State     string    `json:"-"`      // linked | unlinked
	CreatedAt time.Time `json:"created_at"`
}

// SendRequest is a message a user sends from crmsync.
type SendRequest struct {
	To          []Address        `json:"to"`
	Cc          []Address        `json:"cc"`
	Bcc         []Address        `json:"bcc"`
	Subject     string           `json:"subject"`
	Text        string           `json:"text"`
	HTML        string           `json:"html"`
	Attachments []SendAttachment `json:"attachments"`
	// Links are records the sent email is linked to by hand, besides the
	// automatic links of its recipients.
	Links     []LinkRef `json:"links"`
	InReplyTo string    `json:"in_reply_to,omitempty"`
}

// SendAttachment is a file attached to a sent message.
type SendAttachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Content     []byte `json:"content"` // base64 in JSON
}

// LinkRef names a CRM record.
type LinkRef struct {
	Type LinkType `json:"type"`
	ID   int64    `json:"id"`
}

// OutboxState is where a message to send stands.
type OutboxState string

const (
	OutboxQueued  OutboxState = "queued"  // waiting for its (next) attempt
	OutboxSending OutboxState = "sending" // handed to the server (SMTP, or the provider's API); outcome being recorded
	OutboxSent    OutboxState = "sent"
	OutboxFailed  OutboxState = "failed" // permanently refused; the user must act
)

// OutboxItem is a message in the outbox. Its Message-ID is fixed when it is
// queued, so that a retry after an uncertain attempt can be recognised in
// the Sent folder and never sent twice.
type OutboxItem struct {
	ID            int64       `json:"id"`
	OrgID         int64       `json:"-"`
	OwnerID       int64       `json:"user_id"`
	AccountID     int64       `json:"account_id"`
	MessageID     string      `json:"message_id"`
	From          Address     `json:"from"`
	Request       SendRequest `json:"-"`
	Raw           []byte      `json:"-"` // the RFC 5322 message, built once
	State         OutboxState `json:"state"`
	Attempts      int         `json:"attempts"`
	NextAttemptAt time.Time   `json:"next_attempt_at"`
	LastError     string      `json:"last_error,omitempty"`
	EmailID       *int64      `json:"email_id,omitempty"` // the stored sent message
	CreatedAt     time.Time   `json:"created_at"`
	UpdatedAt     time.Time   `json:"updated_at"`
}
