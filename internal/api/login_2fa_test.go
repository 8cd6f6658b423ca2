package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/signin"
)

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP turns two-factor authentication on for the user signed in
// with session (through the service the web app's settings page calls)
// and returns its secret and recovery codes.
func (b *bundle) enrolTOTP(email string) (string, []string) {
	b.t.Helper()
	ctx := context.Background()
	u, _, err := b.st.UserForLogin(ctx, email)
	if err != nil {
		b.t.Fatal(err)
	}
	svc := b.srv.SignIn()
	e, err := svc.BeginTOTP(ctx, u)
	if err != nil {
		b.t.Fatal(err)
	}
	codes, err := svc.ConfirmTOTP(ctx, u, totpCode(b.t, e.Secret, b.clock.Now()), signin.Client{Key: "test"})
	if err != nil {
		b.t.Fatal(err)
	}
	return e.Secret, codes
}

func TestLoginTwoFactor(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		b := setup(t, o)
		const pw = "correct horse battery"
		id := b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw}).ID()
		sec, codes := b.enrolTOTP("pat@acme.test")
		b.clock.Advance(time.Minute)
		sessions := func() int {
			l, err := b.st.ListTokens(context.Background(), b.orgID, id, crm.TokenSession, b.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			return len(l)
		}

		// The password alone: 401 otp_required, and no token.
		r := b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw})
		b.wantErr(r, 401, "otp_required", "otp")
		if _, ok := r.Body["token"]; ok || sessions() != 0 {
			t.Fatalf("a session with the password alone: %d sessions, %s", sessions(), r.Raw)
		}
		// A wrong password with a code is still invalid_credentials (the
		// code reveals nothing, and is not even looked at).
		b.wantErr(b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": "nope", "otp": totpCode(t, sec, b.clock.Now())}),
			401, "invalid_credentials", "")
		// A wrong code.
		b.wantErr(b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "otp": "000000"}), 401, "invalid_otp", "otp")
		if sessions() != 0 {
			t.Fatal("a session after a wrong code")
		}
		// The right code signs in, once.
		code := totpCode(t, sec, b.clock.Now())
		session := b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "otp": code}).Str("token")
		b.must(200, "GET", "/api/v1/me", session, nil)
		r = b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "otp": code})
		b.wantErr(r, 401, "invalid_otp", "otp")
		if _, _, msg := r.Err(); msg == "" || !strings.Contains(msg, "used already") {
			t.Errorf("replay message: %q", msg)
		}
		// A recovery code works once.
		b.clock.Advance(time.Minute) // the wrong attempts above back off
		b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "recovery_code": codes[3]})
		b.clock.Advance(time.Minute)
		b.wantErr(b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "recovery_code": codes[3]}),
			401, "invalid_otp", "recovery_code")
	})
}

// TestLoginTwoFactorGuessing: codes are behind the limiter like
// passwords.
func TestLoginTwoFactorGuessing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "correct horse battery"
	b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw})
	sec, _ := b.enrolTOTP("pat@acme.test")
	b.clock.Advance(time.Minute)
	limited := false
	for i := 0; i < 20 && !limited; i++ {
		r := b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "otp": "111111"})
		limited = r.Status == 429
	}
	if !limited {
		t.Fatal("20 wrong codes and never 429")
	}
	r := b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "otp": totpCode(t, sec, b.clock.Now())})
	b.wantErr(r, 429, "too_many_attempts", "")
}

// TestTwoFactorPolicy: a user of an organisation that requires
// two-factor authentication, without it, gets a session that is refused
// with a clear message until they set it up; API tokens keep working.
func TestTwoFactorPolicy(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		b := setup(t, o)
		const pw = "correct horse battery"
		id := b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw}).ID()
		tok := b.must(201, "POST", "/api/v1/users/"+itoa(id)+"/tokens", b.token, map[string]any{"name": "laptop sync"}).Str("token")
		session := b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}).Str("token")

		if err := b.srv.SignIn().SetRequireTwoFactor(context.Background(), b.orgID, true); err != nil {
			t.Fatal(err)
		}
		r := b.do("GET", "/api/v1/me", session, nil)
		b.wantErr(r, 403, "two_factor_setup_required", "")
		if _, _, msg := r.Err(); !strings.Contains(msg, "two-factor") {
			t.Errorf("message: %q", msg)
		}
		b.must(200, "GET", "/api/v1/me", tok, nil)
		// Signing out still works.
		b.must(204, "POST", "/api/v1/logout", session, nil)

		b.enrolTOTP("pat@acme.test")
		b.clock.Advance(time.Minute)
		b.wantErr(b.do("POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}), 401, "otp_required", "otp")
	})
}

// TestTwoFactorAPI: set up, confirm, replace recovery codes and turn off
// two-factor authentication through the API; a session blocked by the
// policy may do so, and nothing else.
func TestTwoFactorAPI(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, o bundleOpts) {
		b := setup(t, o)
		const pw = "correct horse battery"
		b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw})
		if err := b.srv.SignIn().SetRequireTwoFactor(context.Background(), b.orgID, true); err != nil {
			t.Fatal(err)
		}
		session := b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}).Str("token")
		b.wantErr(b.do("GET", "/api/v1/companies", session, nil), 403, "two_factor_setup_required", "")
		st := b.must(200, "GET", "/api/v1/me/two_factor", session, nil)
		if st.Body["required"] != true || st.Body["enabled"] != false {
			t.Fatalf("state %s", st.Raw)
		}
		e := b.must(201, "POST", "/api/v1/me/two_factor", session, nil)
		sec := e.Str("secret")
		if !strings.HasPrefix(e.Str("otpauth_url"), "otpauth://totp/") || sec == "" {
			t.Fatalf("enrolment %s", e.Raw)
		}
		b.wantErr(b.do("POST", "/api/v1/me/two_factor/confirm", session, map[string]any{"otp": "000000"}), 422, "invalid_otp", "otp")
		r := b.must(200, "POST", "/api/v1/me/two_factor/confirm", session, map[string]any{"otp": totpCode(t, sec, b.clock.Now())})
		if codes, _ := r.Body["recovery_codes"].([]any); len(codes) != 10 {
			t.Fatalf("recovery codes %s", r.Raw)
		}
		// On: the session works, and a second set-up is a conflict.
		b.must(200, "GET", "/api/v1/companies", session, nil)
		b.wantErr(b.do("POST", "/api/v1/me/two_factor", session, nil), 409, "conflict", "")
		r = b.must(200, "POST", "/api/v1/me/two_factor/recovery_codes", session, nil)
		fresh := r.Body["recovery_codes"].([]any)
		// Required: it cannot be turned off.
		b.wantErr(b.do("POST", "/api/v1/me/two_factor/disable", session, map[string]any{"password": pw}), 403, "forbidden", "")
		if err := b.srv.SignIn().SetRequireTwoFactor(context.Background(), b.orgID, false); err != nil {
			t.Fatal(err)
		}
		b.wantErr(b.do("POST", "/api/v1/me/two_factor/disable", session, map[string]any{"password": "wrong"}), 422, "invalid_value", "password")
		b.clock.Advance(time.Minute)
		b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw, "recovery_code": fresh[0]})
		b.must(204, "POST", "/api/v1/me/two_factor/disable", session, map[string]any{"password": pw})
		b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw})
		b.wantErr(b.do("POST", "/api/v1/me/two_factor/recovery_codes", session, nil), 404, "not_found", "")
	})
}
