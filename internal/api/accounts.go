package api

import (
	"errors"
	"net/http"

	"github.com/crmsync/crmsync/internal/accounts"
)

// The mail and PIM account endpoints decode a request, call the accounts
// service (which owns verify, seal, reattach, disconnect) and answer; this
// file maps between the two.

// codeConfirmationRequired refuses a destructive request sent without its
// confirmation parameter.
const codeConfirmationRequired = "confirmation_required"

// wakeFuncs gives the accounts service this process's wake-ups.
type wakeFuncs struct{ mail, pim func(accountID int64) }

func (w wakeFuncs) WakeMail(id int64) {
	if w.mail != nil {
		w.mail(id)
	}
}

func (w wakeFuncs) WakePIM(id int64) {
	if w.pim != nil {
		w.pim(id)
	}
}

// newAccounts is the accounts service of a server with cfg.
func newAccounts(cfg Config) *accounts.Service {
	var w accounts.Waker
	if cfg.Wake != nil || cfg.WakePIM != nil {
		w = wakeFuncs{mail: cfg.Wake, pim: cfg.WakePIM}
	}
	var mc accounts.MailConnector
	if cfg.Mail != nil {
		mc = cfg.Mail
	}
	return accounts.New(accounts.Config{Store: cfg.Store, Mail: mc, PIM: cfg.PIM, Waker: w, Now: cfg.Now,
		Retention: cfg.Retention, DropboxDomain: cfg.DropboxDomain, Logger: cfg.Logger, Attempts: cfg.Attempts})
}

// accountError turns an error of the accounts service into the API's
// answer. A connector's login failure must have been mapped before (by
// verifyError or pimVerifyError); what names the record for the store's
// errors ("mail account").
func accountError(err error, what string) error {
	var fe *accounts.FieldError
	var ae *accounts.Error
	var te *accounts.TooManyAttemptsError
	switch {
	case errors.As(err, &te):
		return &Error{Status: http.StatusTooManyRequests, Code: codeTooManyAttempts, Message: te.Message, RetryAfter: te.RetryAfter}
	case errors.As(err, &fe):
		return &Error{Status: http.StatusUnprocessableEntity, Code: fe.Code, Field: fe.Field, Message: fe.Message}
	case errors.As(err, &ae):
		out := &Error{Status: http.StatusConflict, Code: codeConflict, Field: ae.Field, Message: ae.Message}
		switch {
		case errors.Is(ae, accounts.ErrConfirmationRequired):
			out.Code = codeConfirmationRequired
		case errors.Is(ae, accounts.ErrForbidden):
			out.Status, out.Code = http.StatusForbidden, codeForbidden
		case errors.Is(ae, accounts.ErrUnavailable):
			out.Status, out.Code = http.StatusServiceUnavailable, codeUnavailable
		}
		return out
	}
	return storeError(err, what)
}

// given is a field of a partial update that may be absent but not null:
// nil when absent, its value otherwise.
func given[T any](o Opt[T], field, hint string) (*T, error) {
	if !o.Set {
		return nil, nil
	}
	v, err := o.value(field, hint)
	if err != nil {
		return nil, err
	}
	return &v, nil
}
