package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery (DESIGN §15).
const (
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256>": the HMAC,
	// keyed with the endpoint's secret, of the timestamp, a full stop and
	// the raw body. Receivers recompute it and compare in constant time,
	// and refuse a timestamp far from their clock (replays).
	HeaderSignature = "Crmsync-Signature"
	// HeaderEventID is the event's unique id: the same on every attempt
	// and every endpoint, for receivers to drop duplicates (delivery is
	// at least once).
	HeaderEventID = "Crmsync-Event-Id"
	// HeaderEventType is the event's type (message.stored…).
	HeaderEventType = "Crmsync-Event-Type"
	// HeaderDeliveryID is the delivery (event × endpoint) being attempted.
	HeaderDeliveryID = "Crmsync-Delivery-Id"
	// HeaderAttempt is the attempt's number, from 1.
	HeaderAttempt = "Crmsync-Attempt"
)

// Sign returns the Crmsync-Signature header value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is Verify's refusal.
var ErrBadSignature = errors.New("webhooks: the signature does not match the body")

// Verify checks a Crmsync-Signature header as a receiver would: the
// signature must be over this body with this secret, and its timestamp
// within tolerance of now (0: not checked). It is the reference for
// receivers and what the tests' receiver runs.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("webhooks: the signature header must read t=<unix seconds>,v1=<hex>")
	}
	if tolerance > 0 {
		if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
			return errors.New("webhooks: the signature's timestamp is too far from now")
		}
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return ErrBadSignature
}
