package imapsync

import (
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/mail"
)

func TestAssignRoles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []listed
		want map[string]mail.Role // folders not listed must have no role
	}{
		{
			name: "special-use wins over names",
			in: []listed{
				{name: "INBOX", delim: '/'},
				{name: "Sent", delim: '/'},
				{name: "Sent Items", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrSent}},
				{name: "Papierkorb", delim: '/', attrs: []imap.MailboxAttr{"\\trash"}},
			},
			want: map[string]mail.Role{"INBOX": mail.RoleInbox, "Sent Items": mail.RoleSent, "Papierkorb": mail.RoleTrash},
		},
		{
			name: "gmail",
			in: []listed{
				{name: "INBOX", delim: '/'},
				{name: "[Gmail]", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect, imap.MailboxAttrHasChildren}},
				{name: "[Gmail]/All Mail", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrAll}},
				{name: "[Gmail]/Sent Mail", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrSent}},
				{name: "[Gmail]/Important", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrImportant}},
				{name: "[Gmail]/Spam", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrJunk}},
			},
			want: map[string]mail.Role{"INBOX": mail.RoleInbox, "[Gmail]/All Mail": mail.RoleAll, "[Gmail]/Sent Mail": mail.RoleSent, "[Gmail]/Spam": mail.RoleJunk},
		},
		{
			name: "gmail without special-use",
			in: []listed{
				{name: "INBOX", delim: '/'},
				{name: "[Gmail]/All Mail", delim: '/'},
				{name: "[Gmail]/Sent Mail", delim: '/'},
				{name: "[Gmail]/Drafts", delim: '/'},
				{name: "[Gmail]/Bin", delim: '/'},
			},
			want: map[string]mail.Role{"INBOX": mail.RoleInbox, "[Gmail]/All Mail": mail.RoleAll, "[Gmail]/Sent Mail": mail.RoleSent, "[Gmail]/Drafts": mail.RoleDrafts, "[Gmail]/Bin": mail.RoleTrash},
		},
		{
			name: "exchange",
			in: []listed{
				{name: "Inbox", delim: '/'}, {name: "Sent Items", delim: '/'}, {name: "Deleted Items", delim: '/'},
				{name: "Junk Email", delim: '/'}, {name: "Drafts", delim: '/'}, {name: "Archive", delim: '/'},
				{name: "Conversation History", delim: '/'},
			},
			want: map[string]mail.Role{"Inbox": mail.RoleInbox, "Sent Items": mail.RoleSent, "Deleted Items": mail.RoleTrash,
				"Junk Email": mail.RoleJunk, "Drafts": mail.RoleDrafts, "Archive": mail.RoleArchive},
		},
		{
			name: "courier INBOX children, french and german",
			in: []listed{
				{name: "INBOX", delim: '.'}, {name: "INBOX.Envoyés", delim: '.'}, {name: "INBOX.Brouillons", delim: '.'},
				{name: "INBOX.Corbeille", delim: '.'}, {name: "Gesendet", delim: '.'}, {name: "Spamverdacht", delim: '.'},
			},
			// Both "INBOX.Envoyés" and "Gesendet" look like Sent: the name
			// earlier in roleNames wins, and only one folder gets the role.
			want: map[string]mail.Role{"INBOX": mail.RoleInbox, "INBOX.Envoyés": mail.RoleSent, "INBOX.Brouillons": mail.RoleDrafts,
				"INBOX.Corbeille": mail.RoleTrash, "Spamverdacht": mail.RoleJunk},
		},
		{
			name: "nested folders are not guessed",
			in: []listed{
				{name: "INBOX", delim: '/'}, {name: "Archive", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}},
				{name: "Archive/2025", delim: '/'}, {name: "Clients/Sent", delim: '/'}, {name: "Projects/Trash", delim: '/'},
			},
			want: map[string]mail.Role{"INBOX": mail.RoleInbox},
		},
		{
			name: "one guess per role",
			in:   []listed{{name: "Sent Messages", delim: '/'}, {name: "Sent", delim: '/'}, {name: "SENT ITEMS", delim: '/'}},
			want: map[string]mail.Role{"Sent": mail.RoleSent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range assignRoles(tt.in) {
				if f.Role != tt.want[f.Name] {
					t.Errorf("%q: role %q, want %q", f.Name, f.Role, tt.want[f.Name])
				}
			}
		})
	}
}

func TestAssignRolesNoSelect(t *testing.T) {
	t.Parallel()
	got := assignRoles([]listed{
		{name: "Archive", delim: '/', attrs: []imap.MailboxAttr{"\\NoSelect"}},
		{name: "Gone", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrNonExistent}},
		{name: "Work", delim: '/', attrs: []imap.MailboxAttr{imap.MailboxAttrHasChildren}},
	})
	if !got[0].NoSelect || got[0].Role != mail.RoleNone || !got[1].NoSelect || got[2].NoSelect {
		t.Errorf("got %+v", got)
	}
}
