package imapsync

import (
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/mail"
)

// listed is one LIST reply before roles are decided.
type listed struct {
	name  string
	delim rune
	attrs []imap.MailboxAttr
}

// roleFromAttrs reads a SPECIAL-USE attribute (RFC 6154 §2).
func roleFromAttrs(attrs []imap.MailboxAttr) mail.Role {
	for _, a := range attrs {
		switch {
		case strings.EqualFold(string(a), string(imap.MailboxAttrSent)):
			return mail.RoleSent
		case strings.EqualFold(string(a), string(imap.MailboxAttrDrafts)):
			return mail.RoleDrafts
		case strings.EqualFold(string(a), string(imap.MailboxAttrTrash)):
			return mail.RoleTrash
		case strings.EqualFold(string(a), string(imap.MailboxAttrJunk)):
			return mail.RoleJunk
		case strings.EqualFold(string(a), string(imap.MailboxAttrArchive)):
			return mail.RoleArchive
		case strings.EqualFold(string(a), string(imap.MailboxAttrAll)):
			return mail.RoleAll
		}
	}
	return mail.RoleNone
}

func hasAttr(attrs []imap.MailboxAttr, want imap.MailboxAttr) bool {
	for _, a := range attrs {
		if strings.EqualFold(string(a), string(want)) {
			return true
		}
	}
	return false
}

// roleNames are the names servers without SPECIAL-USE give the special
// folders, most common first, in the languages our users' servers speak
// (Exchange, Gmail, Dovecot, Courier and webmail defaults). A name matches
// a top-level folder or a child of INBOX or [Gmail] ("INBOX.Sent",
// "[Gmail]/Sent Mail"), case-insensitively.
var roleNames = []struct {
	role  mail.Role
	names []string
}{
	{mail.RoleSent, []string{"Sent", "Sent Items", "Sent Messages", "Sent Mail", "Sent-Mail",
		"Envoyés", "Messages envoyés", "Éléments envoyés", "Gesendet", "Gesendete Objekte", "Gesendete Elemente",
		"Enviados", "Elementos enviados", "Mensajes enviados", "Itens Enviados", "Posta inviata", "Inviata",
		"Verzonden", "Verzonden items", "Skickat", "Skickade objekt", "Sendt", "Sendte elementer",
		"Wysłane", "Отправленные", "已发送", "送信済み"}},
	{mail.RoleDrafts, []string{"Drafts", "Draft", "Brouillons", "Entwürfe", "Borradores", "Rascunhos", "Bozze",
		"Concepten", "Utkast", "Kladder", "Kopie robocze", "Черновики", "草稿", "下書き"}},
	{mail.RoleTrash, []string{"Trash", "Deleted Items", "Deleted Messages", "Deleted", "Bin",
		"Corbeille", "Éléments supprimés", "Papierkorb", "Gelöschte Elemente", "Gelöschte Objekte",
		"Papelera", "Elementos eliminados", "Lixeira", "Itens Excluídos", "Cestino", "Posta eliminata",
		"Prullenbak", "Verwijderde items", "Papperskorgen", "Kosz", "Корзина", "已删除", "ゴミ箱"}},
	{mail.RoleJunk, []string{"Junk", "Spam", "Junk Mail", "Junk E-mail", "Junk Email", "Bulk Mail",
		"Courrier indésirable", "Indésirables", "Junk-E-Mail", "Spamverdacht", "Correo no deseado",
		"Lixo Eletrônico", "Posta indesiderata", "Ongewenste e-mail", "Skräppost", "Спам", "垃圾邮件", "迷惑メール"}},
	{mail.RoleArchive, []string{"Archive", "Archives", "Archiv", "Archivo", "Arquivo", "Archivio", "Archief",
		"Arkiv", "Архив", "归档", "アーカイブ"}},
	{mail.RoleAll, []string{"All Mail"}},
}

// specialParents are the folders whose children may be special folders.
var specialParents = []string{"INBOX", "[Gmail]", "[Google Mail]"}

// assignRoles turns LIST replies into folders with roles: INBOX by name
// (RFC 3501 §5.1: case-insensitive), then SPECIAL-USE attributes, then, for
// each role no folder has yet, a guess from the folder names.
func assignRoles(in []listed) []mail.FolderInfo {
	out := make([]mail.FolderInfo, len(in))
	have := map[mail.Role]bool{}
	for i, l := range in {
		out[i] = mail.FolderInfo{
			Name:     l.name,
			NoSelect: hasAttr(l.attrs, imap.MailboxAttrNoSelect) || hasAttr(l.attrs, imap.MailboxAttrNonExistent),
		}
		switch {
		case strings.EqualFold(l.name, "INBOX"):
			out[i].Role = mail.RoleInbox
		default:
			out[i].Role = roleFromAttrs(l.attrs)
		}
		if out[i].Role != mail.RoleNone {
			have[out[i].Role] = true
		}
	}
	for _, rn := range roleNames {
		if have[rn.role] {
			continue
		}
	names:
		for _, name := range rn.names {
			for i, l := range in {
				if out[i].Role != mail.RoleNone || out[i].NoSelect {
					continue
				}
				if strings.EqualFold(leafName(l.name, l.delim), name) {
					out[i].Role = rn.role
					break names
				}
			}
		}
	}
	return out
}

// leafName is the last component of a top-level folder or of a child of
// one of specialParents, else "" (so "Archive/2025" is not an archive).
func leafName(name string, delim rune) string {
	if delim == 0 {
		return name
	}
	i := strings.LastIndex(name, string(delim))
	if i < 0 {
		return name
	}
	parent := name[:i]
	for _, p := range specialParents {
		if strings.EqualFold(parent, p) {
			return name[i+len(string(delim)):]
		}
	}
	return ""
}
