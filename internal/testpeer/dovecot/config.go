package dovecot

import (
	"os"
	"path/filepath"
	"text/template"
)

// configTemplate is a stand-alone dovecot.conf (Dovecot 2.3; nothing is
// read from /etc/dovecot), after /work/shared/peers/dovecot.sh.
var configTemplate = template.Must(template.New("dovecot.conf").Parse(`# Written by crmsync internal/testpeer/dovecot: throwaway loopback test server.
instance_name = crmsync-test-{{.Port}}
protocols = imap
listen = 127.0.0.1
base_dir = {{.BaseDir}}
state_dir = {{.Dir}}/state
log_path = {{.Log}}
info_log_path = {{.Log}}
auth_verbose = yes
verbose_proctitle = yes
default_login_user = {{.LoginUser}}
default_internal_user = {{.InternalUser}}
{{- if .InternalGroup}}
default_internal_group = {{.InternalGroup}}
{{- end}}

ssl = yes
ssl_cert = <{{.Dir}}/tls/server.crt
ssl_key = <{{.Dir}}/tls/server.key
{{- if .DH}}
ssl_dh = <{{.DH}}
{{- end}}
ssl_min_protocol = TLSv1.2

# Loopback tests: LOGIN and AUTHENTICATE PLAIN without TLS too, and a wrong
# password answered within 0.5 s (the auth process's failure timer), not 2 s.
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0

passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{.Dir}}/users
}
userdb {
  driver = static
  args = uid={{.UID}} gid={{.GID}} home={{.Dir}}/mail/%u
}
first_valid_uid = 1
first_valid_gid = 1

mail_location = maildir:~/Maildir
# Test data is thrown away: skip fsync.
mail_fsync = never
# IDLE falls back to polling this often when inotify says nothing.
mailbox_idle_check_interval = 1 secs

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}

# CONDSTORE and QRESYNC are built into imapd 2.3 and advertised after login.
protocol imap {
  mail_max_userip_connections = 200
}

service imap {
  process_limit = 1024
}

# No penalty: otherwise, after a wrong password, every login from 127.0.0.1
# (right or wrong) waits 2, 4, 8... seconds. Without this socket the auth
# process finds no anvil to ask and turns the penalty off.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
{{- if not .Root}}
  chroot =
{{- end}}
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{.Port}}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = {{.TLSPort}}
    ssl = yes
  }
{{- if not .Root}}
  # An unprivileged master can neither chroot nor change users.
  chroot =
{{- end}}
}
`))

func (s *Server) writeConfig() error {
	dh := "/usr/share/dovecot/dh.pem"
	if _, err := os.Stat(dh); err != nil {
		dh = "" // only DHE cipher suites need it, and Go's TLS has none
	}
	data := map[string]any{
		"Dir":          s.dir,
		"BaseDir":      s.baseDir,
		"Log":          s.logPath,
		"Port":         s.Port,
		"TLSPort":      s.TLSPort,
		"LoginUser":    s.ident.loginUser,
		"InternalUser": s.ident.internalUser,
		"UID":          s.mailUID,
		"GID":          s.mailGID,
		"DH":           dh,
		"Root":         s.asRoot,
	}
	if !s.asRoot {
		data["InternalGroup"] = s.ident.internalGroup
	}
	f, err := os.Create(filepath.Join(s.dir, "dovecot.conf"))
	if err != nil {
		return err
	}
	if err := configTemplate.Execute(f, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
