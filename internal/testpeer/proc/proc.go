// Package proc holds what the test harnesses of real servers (Dovecot,
// Radicale) share about running a server as a child process: stopping its
// whole process group, and showing the end of its log when a test fails.
package proc

import (
	"fmt"
	"os"
	"syscall"
	"time"
)

// StopGroup sends SIGTERM to the process group led by pid, so that the
// server and its children exit at once, and waits until exited is closed
// (the caller's Wait returned). A group still there after 10 s is killed:
// the leader is not reaped yet, so the group id is still ours.
func StopGroup(pid int, exited <-chan struct{}) {
	syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
}

// Tail returns up to the last limit bytes of the file at path, for a test
// failure message.
func Tail(path string, limit int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	off := max(0, fi.Size()-limit)
	buf := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return err.Error()
	}
	if off > 0 {
		return "...\n" + string(buf)
	}
	return string(buf)
}
