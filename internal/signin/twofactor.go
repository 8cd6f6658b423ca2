package signin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// Two-factor authentication is TOTP (RFC 6238: 6 digits, 30-second
// steps, SHA-1, what every authenticator app speaks). The shared secret
// is sealed in a credential like a mailbox password, so that a stolen
// database does not give it away and key rotation covers it. A code is
// accepted one step early or late (clocks drift) and only once: the last
// step accepted is kept, and a code of that step or an earlier one is
// refused. Ten recovery codes, kept hashed, each work once for a user
// who lost their phone.

// The refusals of the second step, for errors.Is. A *limit.Refused (too
// many wrong codes) comes back as it is.
var (
	// ErrBadCode: the code is not the current one (nor one step off).
	ErrBadCode = errors.New("signin: the code is wrong")
	// ErrCodeUsed: the code was right but was accepted once already
	// (someone may have seen it); the next one must be waited for.
	ErrCodeUsed = errors.New("signin: the code was used already")
	// ErrBadRecoveryCode: unknown, or used already.
	ErrBadRecoveryCode = errors.New("signin: the recovery code is wrong or was used already")
	// ErrNoTwoFactor: the user has no (enabled) two-factor
	// authentication.
	ErrNoTwoFactor = errors.New("signin: two-factor authentication is not on")
	// ErrTwoFactorOn: enrolment while it is on already.
	ErrTwoFactorOn = errors.New("signin: two-factor authentication is on already")
	// ErrNotEnrolling: a confirmation without an enrolment started.
	ErrNotEnrolling = errors.New("signin: no two-factor enrolment was started")
	// ErrNoKeys: the server was started without secret keys, so it
	// cannot seal a TOTP secret.
	ErrNoKeys = errors.New("signin: no secret key to seal two-factor secrets with")
	// ErrPendingExpired: the second step came too late, or its state is
	// not one this server issued; sign in again.
	ErrPendingExpired = errors.New("signin: the sign-in expired; enter the password again")
)

// Recovery codes and TOTP parameters.
const (
	RecoveryCodes = 10
	// Issuer is the name authenticator apps show beside the account.
	Issuer     = "crmsync"
	totpPeriod = 30
	totpSkew   = 1
	// PendingTTL is how long the second step may wait for its code after
	// the password.
	PendingTTL = 5 * time.Minute
)

const credentialPurpose = "totp_secret"

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TwoFactorState is what a user's security page shows.
type TwoFactorState struct {
	// Enabled: sign-in asks for a code.
	Enabled bool
	// Pending: enrolment started, not confirmed with a code yet.
	Pending bool
	// RecoveryCodesLeft is how many recovery codes are still unused.
	RecoveryCodesLeft int
	// Required: the organisation requires two-factor authentication.
	Required bool
}

// Blocked reports whether the user must enrol before anything else: the
// organisation requires two-factor authentication and they have none.
func (st TwoFactorState) Blocked() bool { return st.Required && !st.Enabled }

// TwoFactor returns the user's two-factor state.
func (s *Service) TwoFactor(ctx context.Context, u crm.User) (TwoFactorState, error) {
	var st TwoFactorState
	pol, err := s.cfg.Store.SecurityPolicy(ctx, u.OrgID)
	if err != nil {
		return st, err
	}
	st.Required = pol.RequireTwoFactor
	t, err := s.cfg.Store.GetTOTP(ctx, u.OrgID, u.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return st, nil
	case err != nil:
		return st, err
	}
	st.Enabled, st.Pending = t.EnabledAt != nil, t.EnabledAt == nil
	if st.Enabled {
		st.RecoveryCodesLeft, err = s.cfg.Store.RecoveryCodesLeft(ctx, u.OrgID, u.ID)
	}
	return st, err
}

// MustEnrol reports whether u must set up two-factor authentication
// before anything else (their organisation requires it); one query when
// it does not.
func (s *Service) MustEnrol(ctx context.Context, u crm.User) (bool, error) {
	pol, err := s.cfg.Store.SecurityPolicy(ctx, u.OrgID)
	if err != nil || !pol.RequireTwoFactor {
		return false, err
	}
	on, err := s.HasTwoFactor(ctx, u)
	return !on, err
}

// HasTwoFactor reports whether sign-in asks u for a code.
func (s *Service) HasTwoFactor(ctx context.Context, u crm.User) (bool, error) {
	t, err := s.cfg.Store.GetTOTP(ctx, u.OrgID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && t.EnabledAt != nil, err
}

// Enrolment is a TOTP secret being set up: what the user's
// authenticator app needs, as a QR code and typed by hand.
type Enrolment struct {
	// Secret is the key in base32, for typing (grouped by 4 in Grouped).
	Secret string
	// URL is the otpauth:// URL the QR code holds.
	URL string
	// QRCode is a PNG of URL.
	QRCode []byte
}

// Grouped is the secret in groups of four characters, easier to type.
func (e Enrolment) Grouped() string {
	var b strings.Builder
	for i, r := range e.Secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// BeginTOTP starts (or starts again) an enrolment: a new secret, sealed
// and kept pending until ConfirmTOTP. ErrTwoFactorOn when it is on.
func (s *Service) BeginTOTP(ctx context.Context, u crm.User) (Enrolment, error) {
	if s.cfg.Keys == nil {
		return Enrolment{}, ErrNoKeys
	}
	if on, err := s.HasTwoFactor(ctx, u); err != nil || on {
		if on {
			err = ErrTwoFactorOn
		}
		return Enrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: Issuer, AccountName: u.Email, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, err
	}
	credID := fmt.Sprintf("totp:%d:%s", u.ID, randomText(8))
	sealed, err := s.cfg.Keys.Seal([]byte(key.String()), secret.CredentialAD(credID))
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.cfg.Store.PutCredential(ctx, store.Credential{ID: credID, OrgID: u.OrgID, Purpose: credentialPurpose, Ciphertext: sealed}); err != nil {
		return Enrolment{}, err
	}
	old, err := s.cfg.Store.StartTOTP(ctx, u.OrgID, u.ID, credID, s.cfg.Now())
	if err != nil {
		_ = s.cfg.Store.DeleteCredential(ctx, u.OrgID, credID)
		if errors.Is(err, store.ErrConflict) {
			err = ErrTwoFactorOn
		}
		return Enrolment{}, err
	}
	if old != "" {
		_ = s.cfg.Store.DeleteCredential(ctx, u.OrgID, old)
	}
	return enrolment(key)
}

// PendingTOTP is the enrolment the user started and did not confirm yet
// (to show its QR code again); ErrNotEnrolling when there is none.
func (s *Service) PendingTOTP(ctx context.Context, u crm.User) (Enrolment, error) {
	t, key, err := s.totpKey(ctx, u)
	if errors.Is(err, store.ErrNotFound) || (err == nil && t.EnabledAt != nil) {
		return Enrolment{}, ErrNotEnrolling
	}
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(key)
}

func enrolment(key *otp.Key) (Enrolment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrolment{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URL: key.String(), QRCode: buf.Bytes()}, nil
}

// totpKey opens the user's TOTP secret.
func (s *Service) totpKey(ctx context.Context, u crm.User) (store.TOTP, *otp.Key, error) {
	t, err := s.cfg.Store.GetTOTP(ctx, u.OrgID, u.ID)
	if err != nil {
		return t, nil, err
	}
	if s.cfg.Keys == nil {
		return t, nil, ErrNoKeys
	}
	cred, err := s.cfg.Store.GetCredential(ctx, u.OrgID, t.CredentialID)
	if err != nil {
		return t, nil, fmt.Errorf("signin: the two-factor secret of user %d: %w", u.ID, err)
	}
	pt, err := s.cfg.Keys.Open(cred.Ciphertext, secret.CredentialAD(cred.ID))
	if err != nil {
		return t, nil, fmt.Errorf("signin: opening the two-factor secret of user %d: %w", u.ID, err)
	}
	key, err := otp.NewKeyFromURL(string(pt))
	return t, key, err
}

// ConfirmTOTP turns on the enrolment started by BeginTOTP, given a
// current code from the user's app, and returns their recovery codes:
// shown this once, kept only hashed.
func (s *Service) ConfirmTOTP(ctx context.Context, u crm.User, code string, c Client) ([]string, error) {
	var codes []string
	err := s.attempt(u, c, func() error {
		t, key, err := s.totpKey(ctx, u)
		if errors.Is(err, store.ErrNotFound) || (err == nil && t.EnabledAt != nil) {
			return ErrNotEnrolling
		}
		if err != nil {
			return err
		}
		step, ok := matchStep(key.Secret(), code, s.cfg.Now())
		if !ok {
			return ErrBadCode
		}
		var hashes [][]byte
		codes, hashes = newRecoveryCodes()
		err = s.cfg.Store.EnableTOTP(ctx, u.OrgID, u.ID, step, hashes, s.cfg.Now())
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotEnrolling
		}
		return err
	})
	return codes, err
}

// CheckCode is the second step of a sign-in, or the proof asked before a
// change: a current TOTP code of u, accepted once. It is behind the same
// limiter as passwords, so codes cannot be guessed either.
func (s *Service) CheckCode(ctx context.Context, u crm.User, code string, c Client) error {
	return s.attempt(u, c, func() error {
		t, key, err := s.totpKey(ctx, u)
		if errors.Is(err, store.ErrNotFound) || (err == nil && t.EnabledAt == nil) {
			return ErrNoTwoFactor
		}
		if err != nil {
			return err
		}
		step, ok := matchStep(key.Secret(), code, s.cfg.Now())
		if !ok {
			return ErrBadCode
		}
		if step <= t.LastStep {
			return ErrCodeUsed
		}
		err = s.cfg.Store.UseTOTPStep(ctx, u.OrgID, u.ID, step)
		if errors.Is(err, store.ErrStale) {
			return ErrCodeUsed
		}
		return err
	})
}

// CheckRecoveryCode is the second step with a recovery code instead of a
// TOTP code; the code is used up.
func (s *Service) CheckRecoveryCode(ctx context.Context, u crm.User, code string, c Client) error {
	return s.attempt(u, c, func() error {
		norm := normalizeRecoveryCode(code)
		if norm == "" {
			return ErrBadRecoveryCode
		}
		err := s.cfg.Store.UseRecoveryCode(ctx, u.OrgID, u.ID, hashRecoveryCode(norm), s.cfg.Now())
		if errors.Is(err, store.ErrNotFound) {
			return ErrBadRecoveryCode
		}
		return err
	})
}

// attempt runs one check of a code behind the limiter: a wrong code
// counts as a failed attempt of the account, like a wrong password.
func (s *Service) attempt(u crm.User, c Client, check func() error) error {
	att, err := s.cfg.Attempts.Begin(limiterSecondFactor(u), c.Key)
	if err != nil {
		return err
	}
	err = check()
	switch {
	case err == nil:
		att.Succeeded()
	case errors.Is(err, ErrBadCode), errors.Is(err, ErrCodeUsed), errors.Is(err, ErrBadRecoveryCode):
		att.Failed()
	default:
		att.Abandon()
	}
	return err
}

func limiterSecondFactor(u crm.User) string { return "2fa:" + strconv.FormatInt(u.ID, 10) }

// ProveIdentity checks what a user gives before a sensitive change
// (turning two-factor authentication off): a current code, or failing
// that their password.
func (s *Service) ProveIdentity(ctx context.Context, u crm.User, code, password string, c Client) error {
	if strings.TrimSpace(code) != "" {
		return s.CheckCode(ctx, u, code, c)
	}
	if password == "" {
		return ErrBadCode
	}
	_, err := s.Password(ctx, u.Email, password, c)
	return err
}

// DisableTOTP turns two-factor authentication off, once the user proved
// who they are (ProveIdentity), and forgets the secret and the recovery
// codes.
func (s *Service) DisableTOTP(ctx context.Context, u crm.User) error {
	credID, err := s.cfg.Store.DeleteTOTP(ctx, u.OrgID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoTwoFactor
	}
	if err != nil {
		return err
	}
	return s.cfg.Store.DeleteCredential(ctx, u.OrgID, credID)
}

// RegenerateRecoveryCodes replaces the user's recovery codes with ten new
// ones (the old ones stop working), shown this once.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, u crm.User) ([]string, error) {
	codes, hashes := newRecoveryCodes()
	err := s.cfg.Store.ReplaceRecoveryCodes(ctx, u.OrgID, u.ID, hashes, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoTwoFactor
	}
	return codes, err
}

// SetRequireTwoFactor sets the organisation's policy.
func (s *Service) SetRequireTwoFactor(ctx context.Context, orgID int64, on bool) error {
	return s.cfg.Store.SetSecurityPolicy(ctx, orgID, store.SecurityPolicy{RequireTwoFactor: on}, s.cfg.Now())
}

// matchStep finds the time step, within the skew, whose code is code.
func matchStep(key, code string, now time.Time) (int64, bool) {
	code = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	found, step := false, int64(0)
	for off := int64(-totpSkew); off <= totpSkew; off++ {
		st := cur + off
		want, err := totp.GenerateCodeCustom(key, time.Unix(st*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0, false
		}
		// Compare every candidate, in constant time, and keep the
		// latest match.
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, step = true, st
		}
	}
	return step, found
}

// Recovery codes are ten characters of an alphabet without look-alikes,
// shown as two groups of five: 50 bits each, enough against guessing
// behind the limiter, short enough to type.
const recoveryAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

func newRecoveryCodes() (codes []string, hashes [][]byte) {
	for range RecoveryCodes {
		var sb strings.Builder
		for n := 0; n < 10; {
			var b [1]byte
			rand.Read(b[:])
			// Without the top bytes, every letter is as likely.
			if int(b[0]) >= 256-256%len(recoveryAlphabet) {
				continue
			}
			if n == 5 {
				sb.WriteByte('-')
			}
			sb.WriteByte(recoveryAlphabet[int(b[0])%len(recoveryAlphabet)])
			n++
		}
		code := sb.String()
		codes = append(codes, code)
		hashes = append(hashes, hashRecoveryCode(normalizeRecoveryCode(code)))
	}
	return codes, hashes
}

func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-':
			return -1
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, strings.TrimSpace(code))
}

func hashRecoveryCode(norm string) []byte {
	h := sha256.Sum256([]byte("crmsync recovery code\x00" + norm))
	return h[:]
}

func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// The pending second step: after the right password, a user with
// two-factor authentication gets no session but this value (the web app
// keeps it in a cookie), sealed with the server's secret key for this
// one purpose and expiring after PendingTTL. It names the user, so the
// code page needs no password again.
type pendingState struct {
	UserID  int64 `json:"u"`
	OrgID   int64 `json:"o"`
	Expires int64 `json:"e"`
}

var pendingAD = []byte("crmsync signin: pending second step")

// PendingSecondStep seals the state of a sign-in waiting for its code.
func (s *Service) PendingSecondStep(u crm.User) (string, error) {
	if s.cfg.Keys == nil {
		return "", ErrNoKeys
	}
	b, _ := json.Marshal(pendingState{UserID: u.ID, OrgID: u.OrgID, Expires: s.cfg.Now().Add(PendingTTL).Unix()})
	sealed, err := s.cfg.Keys.Seal(b, pendingAD)
	if err != nil {
		return "", err
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sealed), nil
}

// OpenSecondStep returns the user a PendingSecondStep value was sealed
// for, if it has not expired and they may still sign in;
// ErrPendingExpired otherwise.
func (s *Service) OpenSecondStep(ctx context.Context, value string) (crm.User, error) {
	if s.cfg.Keys == nil || value == "" {
		return crm.User{}, ErrPendingExpired
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(value)
	if err != nil {
		return crm.User{}, ErrPendingExpired
	}
	pt, err := s.cfg.Keys.Open(raw, pendingAD)
	if err != nil {
		return crm.User{}, ErrPendingExpired
	}
	var st pendingState
	if json.Unmarshal(pt, &st) != nil || s.cfg.Now().Unix() > st.Expires {
		return crm.User{}, ErrPendingExpired
	}
	u, err := s.cfg.Store.GetUser(ctx, st.OrgID, st.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return crm.User{}, ErrPendingExpired
	}
	if err != nil {
		return crm.User{}, err
	}
	if !u.Active {
		return crm.User{}, ErrDeactivated
	}
	return u, nil
}
