package graphpim

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/graph"
)

// JSON batching (§4, [G-BATCH]): up to 20 requests in one POST /$batch.
// The envelope answers 200 even when parts fail; each part is throttled on
// its own, so the caller looks at every part's status.

// maxBatch is the most requests one batch may carry.
const maxBatch = 20

type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"` // relative to the version: "/me/…"
	Headers map[string]string `json:"headers,omitempty"`
}

type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// classify turns a failed part into its kind and words, as a failed
// request is.
func (a batchAnswer) classify(c *cloudapi.Client) *connerr.Error {
	h := http.Header{}
	for k, v := range a.Headers {
		h.Set(k, v)
	}
	return graph.Classify(c.Server, cloudapi.Failure{Status: a.Status, Header: h, Body: a.Body, RetryAfter: cloudapi.RetryAfter(h.Get("Retry-After"))})
}

// batch sends reqs (at most maxBatch) as one batch and returns the parts'
// answers, one per request.
func batch(ctx context.Context, c *cloudapi.Client, reqs []batchRequest) ([]batchAnswer, error) {
	body, err := json.Marshal(map[string]any{"requests": reqs})
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(ctx, cloudapi.Request{Method: http.MethodPost, URL: "/$batch", Body: body})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Responses []batchAnswer `json:"responses"`
	}
	if err := c.DecodeJSON(resp.Body, maxPage, &out); err != nil {
		return nil, err
	}
	if len(out.Responses) != len(reqs) {
		return nil, protocol(c, "Microsoft Graph answered a batch with fewer or more parts than it was sent.")
	}
	return out.Responses, nil
}
