package store

import (
	"context"
	"time"
)

// TwoFactor keeps users' second factors (TOTP, RFC 6238, and recovery
// codes) and each organisation's sign-in policy. The TOTP secret itself
// is a Credential (sealed by the caller); these rows only refer to it.
type TwoFactor interface {
	// GetTOTP returns the user's TOTP enrolment, pending or enabled;
	// ErrNotFound when they have none.
	GetTOTP(ctx context.Context, orgID, userID int64) (TOTP, error)
	// StartTOTP records a pending enrolment with the credential holding
	// its secret, replacing a pending one (whose credential id it
	// returns, for the caller to delete; "" for none). A user whose TOTP
	// is enabled gets ErrConflict: they disable it first.
	StartTOTP(ctx context.Context, orgID, userID int64, credentialID string, at time.Time) (replaced string, err error)
	// EnableTOTP confirms a pending enrolment with the time step of the
	// code the user entered, and stores their recovery codes' hashes
	// (replacing any), in one transaction. ErrNotFound when nothing is
	// pending.
	EnableTOTP(ctx context.Context, orgID, userID, step int64, recoveryHashes [][]byte, at time.Time) error
	// UseTOTPStep records that a code of time step step was accepted. A
	// step not after the last one accepted gets ErrStale: the code was
	// used already (replay) or is older than one that was.
	UseTOTPStep(ctx context.Context, orgID, userID, step int64) error
	// DeleteTOTP removes the user's TOTP and recovery codes and returns
	// the credential id of its secret, for the caller to delete.
	// ErrNotFound when there is none.
	DeleteTOTP(ctx context.Context, orgID, userID int64) (credentialID string, err error)
	// ReplaceRecoveryCodes replaces every recovery code of the user.
	ReplaceRecoveryCodes(ctx context.Context, orgID, userID int64, hashes [][]byte, at time.Time) error
	// UseRecoveryCode marks the unused recovery code with that hash used;
	// ErrNotFound when there is none (unknown or used already).
	UseRecoveryCode(ctx context.Context, orgID, userID int64, hash []byte, at time.Time) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, orgID, userID int64) (int, error)

	// SecurityPolicy returns the organisation's sign-in policy (the zero
	// policy when an admin never set one).
	SecurityPolicy(ctx context.Context, orgID int64) (SecurityPolicy, error)
	SetSecurityPolicy(ctx context.Context, orgID int64, p SecurityPolicy, at time.Time) error
}

// TOTP is a user's enrolment in TOTP.
type TOTP struct {
	UserID       int64
	OrgID        int64
	CredentialID string
	CreatedAt    time.Time
	// EnabledAt is when the user confirmed it with a code; nil while
	// pending (the secret was shown, no code entered yet).
	EnabledAt *time.Time
	// LastStep is the time step of the last code accepted.
	LastStep int64
}

// SecurityPolicy is an organisation's sign-in policy.
type SecurityPolicy struct {
	// RequireTwoFactor: users without two-factor authentication must
	// enrol before they can use the web app or a sign-in session.
	RequireTwoFactor bool
}
