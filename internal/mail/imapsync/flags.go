package imapsync

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/mail"
)

// The one mapping between mail.Flags and IMAP system flags (RFC 3501
// §2.3.2). Other flags and keywords are not synchronised.

// flagsFromIMAP reads the flags crmsync synchronises from a FLAGS list.
func flagsFromIMAP(list []imap.Flag) mail.Flags {
	var f mail.Flags
	for _, fl := range list {
		switch canonicalFlag(fl) {
		case imap.FlagSeen:
			f.Seen = true
		case imap.FlagFlagged:
			f.Flagged = true
		case imap.FlagAnswered:
			f.Answered = true
		case imap.FlagDraft:
			f.Draft = true
		}
	}
	return f
}

// flagsToIMAP lists the IMAP flags that are true in f.
func flagsToIMAP(f mail.Flags) []imap.Flag {
	var list []imap.Flag
	if f.Seen {
		list = append(list, imap.FlagSeen)
	}
	if f.Flagged {
		list = append(list, imap.FlagFlagged)
	}
	if f.Answered {
		list = append(list, imap.FlagAnswered)
	}
	if f.Draft {
		list = append(list, imap.FlagDraft)
	}
	return list
}

// canonicalFlag spells system flags as RFC 3501 does: they are
// case-insensitive on the wire ("\SEEN" is "\Seen").
func canonicalFlag(f imap.Flag) imap.Flag {
	for _, sys := range []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered, imap.FlagDraft, imap.FlagDeleted} {
		if strings.EqualFold(string(f), string(sys)) {
			return sys
		}
	}
	return f
}
