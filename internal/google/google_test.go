package google_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/google"
)

// TestClassifyReasons: People's expired sync token has its reason only in
// an ErrorInfo detail, under a status that varies (§10.1); it is a
// forgotten cursor whatever the status. Other refusals keep their
// errors[].reason.
func TestClassifyReasons(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
		kind   connerr.Kind
		reason string
	}{
		{400, `{"error":{"code":400,"status":"FAILED_PRECONDITION","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"EXPIRED_SYNC_TOKEN","domain":"people.googleapis.com"}]}}`, connerr.CursorInvalid, "EXPIRED_SYNC_TOKEN"},
		{400, `{"error":{"code":400,"status":"INVALID_ARGUMENT","details":[{"reason":"EXPIRED_SYNC_TOKEN"}]}}`, connerr.CursorInvalid, "EXPIRED_SYNC_TOKEN"},
		{400, `{"error":{"code":400,"status":"FAILED_PRECONDITION","errors":[{"reason":"failedPrecondition"}]}}`, connerr.Protocol, "failedPrecondition"},
		{400, `{"error":{"code":400,"status":"FAILED_PRECONDITION"}}`, connerr.Protocol, "FAILED_PRECONDITION"},
		{410, `{"error":{"code":410,"errors":[{"domain":"global","reason":"fullSyncRequired"}]}}`, connerr.CursorInvalid, "fullSyncRequired"},
	} {
		e := google.Classify("example", cloudapi.Failure{Status: tc.status, Body: []byte(tc.body)})
		var se *cloudapi.StatusError
		if e.Kind != tc.kind || !errors.As(e, &se) || se.Code != tc.reason || se.Status != tc.status {
			t.Errorf("%s: %v (%v), want %s %s", tc.body, e.Kind, e.Err, tc.kind, tc.reason)
		}
	}
	if google.Classify("x", cloudapi.Failure{Status: http.StatusTooManyRequests}).Kind != connerr.Throttled {
		t.Error("429 is not throttled")
	}
}
