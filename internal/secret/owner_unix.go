//go:build unix

package secret

import (
	"fmt"
	"os"
	"syscall"
)

// copyOwner gives f, the replacement for the key file at path, the owner of
// the file it replaces. Without it, `crmsync keys rotate` run as root would
// leave a mode-0600 file owned by root that the server's user cannot read.
func copyOwner(f *os.File, old os.FileInfo, path string) error {
	st, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	uid, gid := int(st.Uid), int(st.Gid)
	if uid == os.Geteuid() {
		// Same owner; the group matters little on a 0600 file, so keeping
		// it is best effort.
		f.Chown(-1, gid)
		return nil
	}
	if err := f.Chown(uid, gid); err != nil {
		return fmt.Errorf("secret: cannot give the new key file the owner of %s (uid %d): %w; run this as that user or as root", path, uid, err)
	}
	return nil
}
