package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/access"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/config"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// The users commands are the way back in for whoever holds the server when
// nobody can sign in any more (the only token lost, the admin's password
// forgotten). Like init they work on the database directly, so they need
// no token: holding the database is the authority. They take no secret
// key: tokens and passwords are hashed, not sealed.

func usersTokenCommand() *command {
	return &command{
		name:    "users token",
		summary: "make a new API token for a user; print it once",
		help: "Makes a new API token for the user with the given email and prints it on standard output, alone on one " +
			"line (or, with --out FILE, writes it into a new file of mode 0600); it is shown this once. For whoever holds " +
			"the server when a user, or the only admin, lost their token. A user may hold at most 10 active API tokens: " +
			"beyond that it refuses, and one must be revoked first.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			fs.String(&cfg.UserEmail, config.UserEmail)
			fs.String(&cfg.TokenName, config.TokenName)
			fs.String(&cfg.TokenOut, config.Out)
		},
		run: runUsersToken,
	}
}

func usersPasswordCommand() *command {
	return &command{
		name:    "users password",
		summary: "set a user's password; end their sessions",
		help: "Sets a new password for the user with the given email, from --password-file, or asked for on the terminal " +
			"(not shown, twice), or read as one line from standard input when that is not a terminal. Every session the " +
			"user signed in with ends at once; their API tokens keep working. For whoever holds the server when a user, " +
			"or the only admin, cannot sign in.",
		flags: func(fs *config.FlagSet, cfg *config.Config) {
			cfg.RegisterDB(fs)
			fs.String(&cfg.UserEmail, config.UserEmail)
			fs.String(&cfg.PasswordFile, config.PasswordFile)
		},
		run: runUsersPassword,
	}
}

func runUsersToken(ctx context.Context, a *app, cfg config.Config) (err error) {
	email, err := userEmail(cfg)
	if err != nil {
		return err
	}
	name := strings.TrimSpace(cfg.TokenName)
	if name == "" {
		return usageErrorf("--name is required: say what the token is for, so the user knows which to revoke later")
	}
	if utf8.RuneCountInString(name) > access.MaxTokenName {
		return usageErrorf("--name must be at most %d characters", access.MaxTokenName)
	}
	out, err := openSecretOut(a, cfg.TokenOut, "--out")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.discard()
		}
	}()
	db, u, err := openUser(ctx, cfg.DB, email)
	if err != nil {
		return err
	}
	defer db.Close()
	// A deactivated user's tokens are refused at every request: printing
	// one would only send whoever runs this after a 401.
	if !u.Active {
		return fmt.Errorf("%s is deactivated, so any token made for them would be refused: an admin of their organisation "+
			"reactivates them first (in the list of users), then run this again; to get an admin back in, run this for the admin instead", u.Email)
	}

	tok, err := access.IssueAPIToken(ctx, db, u, name, time.Now())
	if errors.Is(err, store.ErrTokenLimit) {
		return fmt.Errorf("%s already has %d active API tokens, the most a user may hold: revoke one they no longer use "+
			"first (signed in, in their list of API tokens; if nobody can sign in, `crmsync users password --email %s` "+
			"sets a password to sign in with), then run this again", u.Email, crm.MaxAPITokensPerUser, u.Email)
	}
	if err != nil {
		return err
	}
	if err := out.write(tok.Secret); err != nil {
		return fmt.Errorf("%w; the token %q (id %d) was made but is lost: revoke it and run this again", err, tok.Name, tok.ID)
	}
	fmt.Fprintf(a.stderr, "made API token %q (id %d, starting %s) for %s (user id %d, organisation id %d); it is %s and shown this once: keep it like a password\n",
		tok.Name, tok.ID, tok.Prefix, u.Email, u.ID, u.OrgID, out.where())
	return nil
}

func runUsersPassword(ctx context.Context, a *app, cfg config.Config) error {
	email, err := userEmail(cfg)
	if err != nil {
		return err
	}
	// The user must exist before anyone is asked to type a password.
	db, u, err := openUser(ctx, cfg.DB, email)
	if err != nil {
		return err
	}
	defer db.Close()
	password, err := newPassword(a, cfg.PasswordFile, u.Email)
	if err != nil {
		return err
	}
	hash, err := auth.HashPassword(password)
	if errors.Is(err, auth.ErrWeakPassword) {
		return usageErrorf("the new password %v", err)
	}
	if err != nil {
		return err
	}
	_, pc, err := access.SetPassword(ctx, db, u.OrgID, u.ID, hash, 0, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "set a new password for %s (user id %d); %d sign-in session(s) ended\n", u.Email, u.ID, pc.SessionsEnded)
	if n := len(pc.APITokens); n > 0 {
		fmt.Fprintf(a.stderr, "their %d API token(s) still work; they can revoke any they no longer trust once signed in\n", n)
	}
	return nil
}

// userEmail is --email, required and normalized.
func userEmail(cfg config.Config) (string, error) {
	if strings.TrimSpace(cfg.UserEmail) == "" {
		return "", usageErrorf("--email is required: the address the user signs in with")
	}
	email, err := crm.NormalizeEmail(cfg.UserEmail)
	if err != nil {
		return "", usageErrorf("--email %q %v", cfg.UserEmail, err)
	}
	return email, nil
}

// openUser opens the database, which must be current, and finds the user
// with email in any of its organisations.
func openUser(ctx context.Context, dsn, email string) (*database, crm.User, error) {
	db, err := openStore(ctx, dsn, false)
	if err != nil {
		return nil, crm.User{}, err
	}
	if err := store.RequireCurrent(ctx, db); err != nil {
		db.Close()
		return nil, crm.User{}, err
	}
	u, _, err := db.UserForLogin(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		db.Close()
		return nil, crm.User{}, fmt.Errorf("no user has the email %s in %s: check the address, and --db (or CRMSYNC_DB)", email, db.display)
	}
	if err != nil {
		db.Close()
		return nil, crm.User{}, err
	}
	return db, u, nil
}

// newPassword reads the new password: from file, or typed twice on the
// terminal without being shown, or as one line of standard input.
func newPassword(a *app, file, email string) (string, error) {
	if file != "" {
		return readPasswordFile("--password-file", file)
	}
	in := a.stdin
	if in == nil {
		in = strings.NewReader("")
	}
	if f, ok := in.(*os.File); ok && isTerminal(f) {
		return promptPassword(a, f, email)
	}
	line, err := readLine(bufio.NewReader(in))
	if err != nil {
		return "", err
	}
	if line == "" {
		return "", usageErrorf("no password given: put it in a file and give --password-file, or run this on a terminal to type it")
	}
	return line, nil
}

// promptPassword asks for the password twice on the terminal f.
func promptPassword(a *app, f *os.File, email string) (string, error) {
	r := bufio.NewReader(f)
	ask := func(prompt string) (string, error) {
		fmt.Fprint(a.stderr, prompt)
		s, err := withoutEcho(f, func() (string, error) { return readLine(r) })
		fmt.Fprintln(a.stderr)
		return s, err
	}
	first, err := ask(fmt.Sprintf("new password for %s (at least %d characters): ", email, auth.MinPasswordLength))
	if err != nil {
		return "", err
	}
	if first == "" {
		return "", usageErrorf("no password typed; nothing changed")
	}
	second, err := ask("the same again: ")
	if err != nil {
		return "", err
	}
	if first != second {
		return "", usageErrorf("the two passwords differ; nothing changed: run this again")
	}
	return first, nil
}

// readLine reads one line of at most maxPasswordFile bytes, without its
// line ending.
func readLine(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		c, err := r.ReadByte()
		if err == io.EOF || err == nil && c == '\n' {
			return strings.TrimSuffix(b.String(), "\r"), nil
		}
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if b.Len() >= maxPasswordFile {
			return "", usageErrorf("the password is longer than %d bytes", maxPasswordFile)
		}
		b.WriteByte(c)
	}
}
