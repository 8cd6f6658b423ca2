package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// secretOut is where a command writes the secret it shows once (an API
// token): standard output, or a file made for it. The file is created
// with mode 0600 before anything else happens and is never an existing
// one: `init > token.txt` run twice emptied the only copy of the token
// before init refused to run again, and a re-run must not be able to.
type secretOut struct {
	a    *app
	path string   // "" for standard output
	f    *os.File // the file made, until written or discarded
}

// openSecretOut makes the file path names (flag is its option, for
// messages), or returns standard output when path is empty.
func openSecretOut(a *app, path, flag string) (*secretOut, error) {
	o := &secretOut{a: a, path: path}
	if path == "" {
		return o, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, usageErrorf("%s %s: the file already exists, and crmsync never overwrites it (it may hold the only copy of a token); "+
			"name a new file, or move that one away first", flag, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	o.f = f
	return o, nil
}

// write writes the secret, alone on one line, and closes the file.
func (o *secretOut) write(secret string) error {
	if o.f == nil {
		_, err := fmt.Fprintln(o.a.stdout, secret)
		return err
	}
	_, err := fmt.Fprintln(o.f, secret)
	if err == nil {
		err = o.f.Sync()
	}
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	o.f = nil
	if err != nil {
		return fmt.Errorf("writing the token to %s: %w", o.path, err)
	}
	return nil
}

// discard removes the file made, when the command failed before writing
// to it: an empty file would hold the name for nothing.
func (o *secretOut) discard() {
	if o.f != nil {
		o.f.Close()
		os.Remove(o.path)
		o.f = nil
	}
}

// where says where the secret went, for the story on standard error.
func (o *secretOut) where() string {
	if o.path == "" {
		return "printed above"
	}
	return "written to " + o.path + " (mode 0600)"
}
