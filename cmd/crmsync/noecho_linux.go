package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// withoutEcho runs read with the terminal f no longer showing what is
// typed, and restores it after.
func withoutEcho(f *os.File, read func() (string, error)) (string, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	return read()
}

// isTerminal reports whether f is a terminal (/dev/null, also a character
// device, is not).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
