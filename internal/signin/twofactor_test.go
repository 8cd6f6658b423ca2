package signin_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	st    *sqlstore.DB
	svc   *signin.Service
	clock *clock
	user  crm.User
	other crm.User
	c     signin.Client
}

const password = "correct horse battery"

func newFixture(t *testing.T, f storetest.Factory) *fixture {
	t.Helper()
	st, _ := f(t)
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, _, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "admin@acme.test", AdminName: "Admin", TokenName: "init", TokenHash: h, TokenPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, org.ID, store.UserParams{Email: "pat@acme.test", Name: "Pat", Role: crm.RoleMember, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	o, err := st.CreateUser(ctx, org.ID, store.UserParams{Email: "sam@acme.test", Name: "Sam", Role: crm.RoleMember, PasswordHash: hash})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	cl := &clock{t: time.Date(2030, 1, 2, 9, 0, 10, 0, time.UTC)}
	svc := signin.New(signin.Config{Store: st, Keys: kr, Now: cl.Now, Attempts: limit.New(limit.DefaultPolicy, cl.Now)})
	return &fixture{st: st, svc: svc, clock: cl, user: u, other: o, c: signin.Client{Addr: "198.51.100.7", Key: "addr:198.51.100.7"}}
}

func code(t *testing.T, secretB32 string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secretB32, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrol turns TOTP on for f.user and returns the secret and recovery codes.
func (f *fixture) enrol(t *testing.T) (string, []string) {
	t.Helper()
	ctx := context.Background()
	e, err := f.svc.BeginTOTP(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.ConfirmTOTP(ctx, f.user, code(t, e.Secret, f.clock.Now()), f.c)
	if err != nil {
		t.Fatal(err)
	}
	return e.Secret, codes
}

func TestTOTPEnrolment(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		fx := newFixture(t, f)
		ctx := context.Background()
		e1, err := fx.svc.BeginTOTP(ctx, fx.user)
		if err != nil {
			t.Fatal(err)
		}
		if len(e1.QRCode) < 100 || string(e1.QRCode[1:4]) != "PNG" || e1.Secret == "" {
			t.Fatalf("enrolment: %d bytes of QR code, secret %q", len(e1.QRCode), e1.Secret)
		}
		// The secret is sealed, not stored as it is.
		tot, err := fx.st.GetTOTP(ctx, fx.user.OrgID, fx.user.ID)
		if err != nil || tot.EnabledAt != nil {
			t.Fatalf("pending: %+v %v", tot, err)
		}
		cred, err := fx.st.GetCredential(ctx, fx.user.OrgID, tot.CredentialID)
		if err != nil || containsText(cred.Ciphertext, e1.Secret) {
			t.Fatalf("credential: %v, secret in the clear: %v", err, containsText(cred.Ciphertext, e1.Secret))
		}
		// Starting again replaces the pending secret (and its credential).
		e2, err := fx.svc.BeginTOTP(ctx, fx.user)
		if err != nil || e2.Secret == e1.Secret {
			t.Fatalf("second begin: %v, same secret %v", err, e2.Secret == e1.Secret)
		}
		if _, err := fx.st.GetCredential(ctx, fx.user.OrgID, tot.CredentialID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("the replaced credential: %v, want deleted", err)
		}
		if p, err := fx.svc.PendingTOTP(ctx, fx.user); err != nil || p.Secret != e2.Secret {
			t.Fatalf("pending: %v", err)
		}
		// Not on until confirmed: sign-in asks for no code.
		if on, _ := fx.svc.HasTwoFactor(ctx, fx.user); on {
			t.Fatal("on before confirmation")
		}
		// A code of the first secret, or a wrong one, does not confirm.
		if _, err := fx.svc.ConfirmTOTP(ctx, fx.user, code(t, e1.Secret, fx.clock.Now()), fx.c); !errors.Is(err, signin.ErrBadCode) {
			t.Fatalf("old secret's code: %v", err)
		}
		codes, err := fx.svc.ConfirmTOTP(ctx, fx.user, code(t, e2.Secret, fx.clock.Now()), fx.c)
		if err != nil || len(codes) != signin.RecoveryCodes {
			t.Fatalf("confirm: %v, %d codes", err, len(codes))
		}
		st, err := fx.svc.TwoFactor(ctx, fx.user)
		if err != nil || !st.Enabled || st.Pending || st.RecoveryCodesLeft != 10 {
			t.Fatalf("state %+v %v", st, err)
		}
		if _, err := fx.svc.BeginTOTP(ctx, fx.user); !errors.Is(err, signin.ErrTwoFactorOn) {
			t.Fatalf("begin while on: %v", err)
		}
		if _, err := fx.svc.PendingTOTP(ctx, fx.user); !errors.Is(err, signin.ErrNotEnrolling) {
			t.Fatalf("pending while on: %v", err)
		}
		// The code that confirmed is used up.
		if err := fx.svc.CheckCode(ctx, fx.user, code(t, e2.Secret, fx.clock.Now()), fx.c); !errors.Is(err, signin.ErrCodeUsed) {
			t.Fatalf("confirmation code again: %v", err)
		}
		// The other user is untouched.
		if on, _ := fx.svc.HasTwoFactor(ctx, fx.other); on {
			t.Fatal("other user has 2FA")
		}
	})
}

func containsText(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

func TestTOTPCodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		fx := newFixture(t, f)
		ctx := context.Background()
		sec, _ := fx.enrol(t)

		fx.clock.Advance(30 * time.Second)
		now := fx.clock.Now()
		// One step late is accepted (clock drift)…
		if err := fx.svc.CheckCode(ctx, fx.user, code(t, sec, now.Add(-30*time.Second)), fx.c); !errors.Is(err, signin.ErrCodeUsed) {
			// that step is the one enrolment accepted: used already.
			t.Fatalf("previous step (used at enrolment): %v", err)
		}
		fx.clock.Advance(60 * time.Second)
		now = fx.clock.Now()
		if err := fx.svc.CheckCode(ctx, fx.user, code(t, sec, now.Add(-30*time.Second)), fx.c); err != nil {
			t.Fatalf("one step late: %v", err)
		}
		// …and the current one after it, but not twice (replay).
		cur := code(t, sec, now)
		if err := fx.svc.CheckCode(ctx, fx.user, cur, fx.c); err != nil {
			t.Fatalf("current: %v", err)
		}
		if err := fx.svc.CheckCode(ctx, fx.user, cur, fx.c); !errors.Is(err, signin.ErrCodeUsed) {
			t.Fatalf("replay: %v", err)
		}
		// Once a later step was accepted, an earlier one is refused.
		if err := fx.svc.CheckCode(ctx, fx.user, code(t, sec, now.Add(30*time.Second)), fx.c); err != nil {
			t.Fatalf("one step early: %v", err)
		}
		if err := fx.svc.CheckCode(ctx, fx.user, code(t, sec, now), fx.c); !errors.Is(err, signin.ErrCodeUsed) {
			t.Fatalf("older step after a newer one: %v", err)
		}
		// Two steps off is refused.
		fx.clock.Advance(5 * time.Minute)
		now = fx.clock.Now()
		if err := fx.svc.CheckCode(ctx, fx.user, code(t, sec, now.Add(-61*time.Second)), fx.c); !errors.Is(err, signin.ErrBadCode) {
			t.Fatalf("two steps late: %v", err)
		}
		if err := fx.svc.CheckCode(ctx, fx.user, "12345", fx.c); !errors.Is(err, signin.ErrBadCode) {
			t.Fatalf("five digits: %v", err)
		}
		// Spaces are allowed, as apps show "123 456" (after the wait the
		// wrong codes above earned).
		fx.clock.Advance(time.Minute)
		now = fx.clock.Now()
		c := code(t, sec, now)
		if err := fx.svc.CheckCode(ctx, fx.user, c[:3]+" "+c[3:], fx.c); err != nil {
			t.Fatalf("spaced code: %v", err)
		}
		// A user without 2FA has no code to check.
		if err := fx.svc.CheckCode(ctx, fx.other, "123456", fx.c); !errors.Is(err, signin.ErrNoTwoFactor) {
			t.Fatalf("other user: %v", err)
		}
	})
}

func TestTOTPGuessingIsLimited(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, storetest.SQLite)
	ctx := context.Background()
	sec, _ := fx.enrol(t)
	fx.clock.Advance(90 * time.Second)
	var refused *limit.Refused
	for i := 0; i < 20; i++ {
		err := fx.svc.CheckCode(ctx, fx.user, "000000", fx.c)
		if errors.As(err, &refused) {
			break
		}
		if !errors.Is(err, signin.ErrBadCode) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if refused == nil {
		t.Fatal("20 wrong codes and no refusal")
	}
	// Even the right code waits.
	if err := fx.svc.CheckCode(ctx, fx.user, code(t, sec, fx.clock.Now()), fx.c); !errors.As(err, &refused) {
		t.Fatalf("right code while limited: %v", err)
	}
	fx.clock.Advance(refused.RetryAfter)
	if err := fx.svc.CheckCode(ctx, fx.user, code(t, sec, fx.clock.Now()), fx.c); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		fx := newFixture(t, f)
		ctx := context.Background()
		_, codes := fx.enrol(t)
		seen := map[string]bool{}
		for _, c := range codes {
			if seen[c] || len(c) != 11 {
				t.Fatalf("codes %v", codes)
			}
			seen[c] = true
		}
		// Upper case and without the dash is the same code; once.
		if err := fx.svc.CheckRecoveryCode(ctx, fx.user, " "+upper(codes[0][:5]+codes[0][6:])+" ", fx.c); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if err := fx.svc.CheckRecoveryCode(ctx, fx.user, codes[0], fx.c); !errors.Is(err, signin.ErrBadRecoveryCode) {
			t.Fatalf("second use: %v", err)
		}
		// Another user cannot use them.
		if err := fx.svc.CheckRecoveryCode(ctx, fx.other, codes[1], fx.c); !errors.Is(err, signin.ErrBadRecoveryCode) {
			t.Fatalf("other user: %v", err)
		}
		if st, _ := fx.svc.TwoFactor(ctx, fx.user); st.RecoveryCodesLeft != 9 {
			t.Fatalf("left %d", st.RecoveryCodesLeft)
		}
		// New codes replace the old ones.
		fresh, err := fx.svc.RegenerateRecoveryCodes(ctx, fx.user)
		if err != nil || len(fresh) != 10 {
			t.Fatal(err)
		}
		if err := fx.svc.CheckRecoveryCode(ctx, fx.user, codes[1], fx.c); !errors.Is(err, signin.ErrBadRecoveryCode) {
			t.Fatalf("old code after regeneration: %v", err)
		}
		if err := fx.svc.CheckRecoveryCode(ctx, fx.user, fresh[9], fx.c); err != nil {
			t.Fatalf("new code: %v", err)
		}
		if _, err := fx.svc.RegenerateRecoveryCodes(ctx, fx.other); !errors.Is(err, signin.ErrNoTwoFactor) {
			t.Fatalf("regenerate without 2FA: %v", err)
		}
	})
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

func TestDisableTOTP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		fx := newFixture(t, f)
		ctx := context.Background()
		sec, codes := fx.enrol(t)
		tot, _ := fx.st.GetTOTP(ctx, fx.user.OrgID, fx.user.ID)
		fx.clock.Advance(time.Minute)
		if err := fx.svc.ProveIdentity(ctx, fx.user, "", "wrong password", fx.c); !errors.Is(err, signin.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
		if err := fx.svc.ProveIdentity(ctx, fx.user, "", password, fx.c); err != nil {
			t.Fatalf("password: %v", err)
		}
		if err := fx.svc.ProveIdentity(ctx, fx.user, code(t, sec, fx.clock.Now()), "", fx.c); err != nil {
			t.Fatalf("code: %v", err)
		}
		if err := fx.svc.DisableTOTP(ctx, fx.user); err != nil {
			t.Fatal(err)
		}
		if on, _ := fx.svc.HasTwoFactor(ctx, fx.user); on {
			t.Fatal("still on")
		}
		if _, err := fx.st.GetCredential(ctx, fx.user.OrgID, tot.CredentialID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("secret kept: %v", err)
		}
		if err := fx.svc.CheckRecoveryCode(ctx, fx.user, codes[2], fx.c); !errors.Is(err, signin.ErrBadRecoveryCode) {
			t.Errorf("recovery code after disabling: %v", err)
		}
		if err := fx.svc.DisableTOTP(ctx, fx.user); !errors.Is(err, signin.ErrNoTwoFactor) {
			t.Errorf("disable twice: %v", err)
		}
		// Enrolling again works.
		fx.enrol(t)
	})
}

func TestPolicyAndPendingStep(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		fx := newFixture(t, f)
		ctx := context.Background()
		if st, _ := fx.svc.TwoFactor(ctx, fx.user); st.Blocked() {
			t.Fatal("blocked without a policy")
		}
		if err := fx.svc.SetRequireTwoFactor(ctx, fx.user.OrgID, true); err != nil {
			t.Fatal(err)
		}
		if st, _ := fx.svc.TwoFactor(ctx, fx.user); !st.Blocked() || !st.Required {
			t.Fatalf("not blocked under the policy: %+v", st)
		}
		fx.enrol(t)
		if st, _ := fx.svc.TwoFactor(ctx, fx.user); st.Blocked() {
			t.Fatal("blocked after enrolling")
		}
		if err := fx.svc.SetRequireTwoFactor(ctx, fx.user.OrgID, false); err != nil {
			t.Fatal(err)
		}
		if st, _ := fx.svc.TwoFactor(ctx, fx.other); st.Required {
			t.Fatal("policy kept after turning it off")
		}

		v, err := fx.svc.PendingSecondStep(fx.user)
		if err != nil {
			t.Fatal(err)
		}
		if u, err := fx.svc.OpenSecondStep(ctx, v); err != nil || u.ID != fx.user.ID {
			t.Fatalf("open: %v %v", u.ID, err)
		}
		// Tampered, or late, it is refused.
		// One character of the middle changed to another of the
		// alphabet (never the same: a no-op is no tampering).
		bad := []byte(v)
		if mid := len(bad) / 2; bad[mid] == 'A' {
			bad[mid] = 'B'
		} else {
			bad[mid] = 'A'
		}
		if _, err := fx.svc.OpenSecondStep(ctx, string(bad)); !errors.Is(err, signin.ErrPendingExpired) {
			t.Fatalf("tampered: %v", err)
		}
		fx.clock.Advance(signin.PendingTTL + time.Second)
		if _, err := fx.svc.OpenSecondStep(ctx, v); !errors.Is(err, signin.ErrPendingExpired) {
			t.Fatalf("late: %v", err)
		}
	})
}
