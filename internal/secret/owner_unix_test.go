//go:build unix

package secret

import (
	"os"
	"syscall"
	"testing"
)

// Rotation run as root must leave the key file to its owner, or the server
// running as that owner could no longer read it.
func TestAppendNewKeyKeepsOwner(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	path := writeKeyFile(t, NewKeyLine()+"\n", 0o600)
	const nobody = 65534
	if err := os.Chown(path, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if _, err := AppendNewKey(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
		t.Fatalf("owner %d:%d, want %d:%d", st.Uid, st.Gid, nobody, nobody)
	}
}
