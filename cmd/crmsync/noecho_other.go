//go:build !linux

package main

import (
	"errors"
	"os"
)

// withoutEcho cannot hide typing on this system: the password must come
// from a file.
func withoutEcho(*os.File, func() (string, error)) (string, error) {
	return "", errors.New("cannot hide the password while it is typed on this system: put it in a file and give --password-file")
}

// isTerminal reports whether f is a character device, as terminals are.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
