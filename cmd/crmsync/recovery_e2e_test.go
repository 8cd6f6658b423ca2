package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runWithInput runs a command to its end with stdin as its standard input.
func (e *e2e) runWithInput(stdin string, args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		e.t.Fatalf("crmsync %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), code
}

// secretFile reads a file a command wrote a token into, checking its mode.
func secretFile(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no token file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	return checkToken(t, string(b))
}

// TestRecovery is the way back in for whoever holds the server (issue 13
// point 3), on both databases: the README's first line run twice keeps the
// token file; a lost token is replaced with `users token`, a forgotten
// password with `users password`, which ends the user's sessions.
func TestRecovery(t *testing.T) {
	t.Parallel()
	for _, kind := range mailDBKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			e := freshDB(t, kind)
			dir := t.TempDir()
			tokenTxt := filepath.Join(dir, "token.txt")

			// init writes the token into a new file of mode 0600, nothing on
			// standard output.
			stdout, stderr := e.mustRun("init", "--org", "Acme", "--admin-email", "admin@acme.example", "--token-out", tokenTxt)
			if stdout != "" || !strings.Contains(stderr, "written to "+tokenTxt+" (mode 0600)") {
				t.Errorf("init --token-out: stdout %q, stderr %q", stdout, stderr)
			}
			initToken := secretFile(t, tokenTxt)

			// The README's line again: refused before anything, the file intact.
			stdout, stderr, code := e.run("init", "--org", "Acme", "--admin-email", "admin@acme.example", "--token-out", tokenTxt)
			if code != 2 || stdout != "" || !strings.Contains(stderr, "--token-out "+tokenTxt+": the file already exists") {
				t.Errorf("second init: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if secretFile(t, tokenTxt) != initToken {
				t.Fatal("the second init changed the token file")
			}
			// With a new file: the database is set up; the file is not left behind.
			other := filepath.Join(dir, "other.txt")
			_, stderr, code = e.run("init", "--org", "Acme", "--admin-email", "admin@acme.example", "--token-out", other)
			if code != 1 || !strings.Contains(stderr, "already initialised") || !strings.Contains(stderr, "crmsync users token") {
				t.Errorf("init on a set-up database: exit %d, %q", code, stderr)
			}
			if _, err := os.Stat(other); err == nil {
				t.Error("a refused init left its token file behind")
			}

			p := e.serve()
			p.mustCall(200, "GET", "/api/v1/me", initToken, nil)

			// users token --out: a new file of mode 0600 holding a working
			// token; never over an existing file.
			out := filepath.Join(dir, "new-token.txt")
			stdout, stderr = e.mustRun("users", "token", "--email", "Admin@Acme.example", "--out", out)
			if stdout != "" || !strings.Contains(stderr, "for admin@acme.example") || !strings.Contains(stderr, "written to "+out) {
				t.Errorf("users token --out: stdout %q, stderr %q", stdout, stderr)
			}
			fileToken := secretFile(t, out)
			if me := p.mustCall(200, "GET", "/api/v1/me", fileToken, nil); me["email"] != "admin@acme.example" {
				t.Errorf("the new token is not the admin's: %v", me)
			}
			if _, stderr, code := e.run("users", "token", "--email", "admin@acme.example", "--out", out); code != 2 || !strings.Contains(stderr, "already exists") {
				t.Errorf("users token over an existing file: exit %d, %q", code, stderr)
			}
			if secretFile(t, out) != fileToken {
				t.Fatal("users token changed an existing file")
			}

			// On standard output, named: it works and is listed under its name.
			stdout, _ = e.mustRun("users", "token", "--email", "admin@acme.example", "--name", "recovery laptop")
			printed := checkToken(t, stdout)
			toks := p.mustCall(200, "GET", "/api/v1/tokens", printed, nil)["data"].([]any)
			if len(toks) != 3 || toks[2].(map[string]any)["name"] != "recovery laptop" || toks[1].(map[string]any)["name"] != "crmsync users token" {
				t.Errorf("tokens after two users token: %v", toks)
			}

			// Unknown user, missing --email: refused, saying what to check.
			if _, stderr, code := e.run("users", "token", "--email", "nobody@acme.example"); code != 1 || !strings.Contains(stderr, "no user has the email nobody@acme.example") {
				t.Errorf("users token for nobody: exit %d, %q", code, stderr)
			}
			if _, stderr, code := e.run("users", "password"); code != 2 || !strings.Contains(stderr, "--email is required") {
				t.Errorf("users password without --email: exit %d, %q", code, stderr)
			}

			// The 10-token limit: refused with what to do, no file left.
			for i := 3; i < 10; i++ {
				p.mustCall(201, "POST", "/api/v1/tokens", initToken, map[string]any{"name": fmt.Sprint("t", i)})
			}
			full := filepath.Join(dir, "eleventh.txt")
			if stdout, stderr, code := e.run("users", "token", "--email", "admin@acme.example", "--out", full); code != 1 || stdout != "" ||
				!strings.Contains(stderr, "already has 10 active API tokens") || !strings.Contains(stderr, "revoke one") {
				t.Errorf("an 11th token: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if _, err := os.Stat(full); err == nil {
				t.Error("a refused users token left its file behind")
			}

			// users password: from a file, it signs in and ends the sessions.
			const oldPW, newPW, stdinPW = "correct horse battery", "a brand new password", "typed on standard input"
			patID := p.mustCall(201, "POST", "/api/v1/users", initToken, map[string]any{"email": "pat@acme.example", "name": "Pat", "password": oldPW})["id"]
			login := func(pw string) (int, string) {
				code, body := p.call("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.example", "password": pw})
				tok, _ := body["token"].(string)
				return code, tok
			}
			_, laptop := login(oldPW)
			_, phone := login(oldPW)
			patAPI := p.mustCall(201, "POST", "/api/v1/tokens", laptop, map[string]any{"name": "script"})["token"].(string)

			weak := filepath.Join(dir, "weak")
			os.WriteFile(weak, []byte("short\n"), 0o600)
			if _, stderr, code := e.run("users", "password", "--email", "pat@acme.example", "--password-file", weak); code != 2 || !strings.Contains(stderr, "at least 10 characters") {
				t.Errorf("a weak password: exit %d, %q", code, stderr)
			}
			p.mustCall(200, "GET", "/api/v1/me", laptop, nil) // nothing changed

			pwFile := filepath.Join(dir, "password")
			os.WriteFile(pwFile, []byte(newPW+"\n"), 0o600)
			stdout, stderr = e.mustRun("users", "password", "--email", "pat@acme.example", "--password-file", pwFile)
			if stdout != "" || !strings.Contains(stderr, "2 sign-in session(s) ended") || !strings.Contains(stderr, "1 API token(s) still work") {
				t.Errorf("users password: stdout %q, stderr %q", stdout, stderr)
			}
			for _, tok := range []string{laptop, phone} {
				if code, _ := p.call("GET", "/api/v1/me", tok, nil); code != 401 {
					t.Errorf("a session of the old password answers %d, want 401", code)
				}
			}
			p.mustCall(200, "GET", "/api/v1/me", patAPI, nil)
			if code, _ := login(oldPW); code != 401 {
				t.Errorf("the old password signs in: %d", code)
			}
			code, session := login(newPW)
			if code != 200 {
				t.Fatalf("the new password does not sign in: %d", code)
			}

			// From standard input when it is not a terminal.
			if _, stderr, code := e.runWithInput(stdinPW+"\n", "users", "password", "--email", "pat@acme.example"); code != 0 || !strings.Contains(stderr, "1 sign-in session(s) ended") {
				t.Errorf("users password from standard input: exit %d, %q", code, stderr)
			}
			if code, _ := p.call("GET", "/api/v1/me", session, nil); code != 401 {
				t.Errorf("the session survived the second password change: %d", code)
			}
			if code, _ := login(stdinPW); code != 200 {
				t.Errorf("the password from standard input does not sign in: %d", code)
			}
			if _, stderr, code := e.runWithInput("", "users", "password", "--email", "pat@acme.example"); code != 2 || !strings.Contains(stderr, "no password given") {
				t.Errorf("users password with nothing on standard input: exit %d, %q", code, stderr)
			}

			// users token for a deactivated user: refused, saying so, no
			// token made and no file left; once reactivated, it works.
			users := fmt.Sprintf("/api/v1/users/%v", patID)
			p.mustCall(200, "PATCH", users, initToken, map[string]any{"active": false})
			refused := filepath.Join(dir, "pat.txt")
			if stdout, stderr, code := e.run("users", "token", "--email", "pat@acme.example", "--out", refused); code != 1 || stdout != "" ||
				!strings.Contains(stderr, "pat@acme.example is deactivated") || !strings.Contains(stderr, "reactivates them first") {
				t.Errorf("users token for a deactivated user: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if _, err := os.Stat(refused); err == nil {
				t.Error("a users token refused for a deactivated user left its file behind")
			}
			p.mustCall(200, "PATCH", users, initToken, map[string]any{"active": true})
			stdout, _ = e.mustRun("users", "token", "--email", "pat@acme.example")
			if me := p.mustCall(200, "GET", "/api/v1/me", checkToken(t, stdout), nil); me["email"] != "pat@acme.example" {
				t.Errorf("token after reactivation: %v", me)
			}
			p.stop()
		})
	}
}
