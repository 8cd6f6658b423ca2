package graphfake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
)

// JSON batching (§4, [G-BATCH]): POST /v1.0/$batch with at most 20
// requests; the envelope answers 200 whatever its parts do, each part is
// admitted (counted, throttled, refused when the mailbox is busy) as a
// request of its own, and a part whose dependsOn failed answers 424.
// Parts run one after the other, in the order given (dependsOn is then
// always met in order).

// MaxBatch is the most requests one batch may carry.
const MaxBatch = 20

type batchPart struct {
	ID        string            `json:"id"`
	Method    string            `json:"method"`
	URL       string            `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

func (g *Graph) serveBatch(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "A batch is posted.")
		return
	}
	var req struct {
		Requests []batchPart `json:"requests"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", "The batch is not JSON.")
		return
	}
	if len(req.Requests) == 0 || len(req.Requests) > MaxBatch {
		graphError(w, http.StatusBadRequest, "invalidRequest", "A batch holds 1 to "+strconv.Itoa(MaxBatch)+" requests.")
		return
	}
	status := map[string]int{}
	var out []batchAnswer
	for _, p := range req.Requests {
		if p.ID == "" || !strings.HasPrefix(p.URL, "/") {
			graphError(w, http.StatusBadRequest, "invalidRequest", "Each request of a batch needs an id and a relative url.")
			return
		}
		failed := false
		for _, d := range p.DependsOn {
			if s, ok := status[d]; !ok || s/100 != 2 {
				failed = true
			}
		}
		if failed {
			status[p.ID] = http.StatusFailedDependency
			out = append(out, batchAnswer{ID: p.ID, Status: http.StatusFailedDependency})
			continue
		}
		var body io.Reader
		if len(p.Body) > 0 {
			body = bytes.NewReader(p.Body)
		}
		sub, err := http.NewRequestWithContext(r.Context(), p.Method, scheme(r)+"://"+r.Host+"/v1.0"+p.URL, body)
		if err != nil {
			status[p.ID] = http.StatusBadRequest
			out = append(out, batchAnswer{ID: p.ID, Status: http.StatusBadRequest,
				Body: json.RawMessage(`{"error":{"code":"invalidRequest","message":"The url is not valid."}}`)})
			continue
		}
		sub.Host = r.Host
		sub.RequestURI = sub.URL.RequestURI()
		sub.Header.Set("Authorization", r.Header.Get("Authorization"))
		for k, v := range p.Headers {
			sub.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, sub)
		a := batchAnswer{ID: p.ID, Status: rec.Code, Headers: map[string]string{}}
		for _, k := range []string{"Retry-After", "Content-Type", "Location"} {
			if v := rec.Header().Get(k); v != "" {
				a.Headers[k] = v
			}
		}
		if b := bytes.TrimSpace(rec.Body.Bytes()); len(b) > 0 {
			a.Body = b
		}
		status[p.ID] = rec.Code
		out = append(out, a)
	}
	writeGraphJSON(w, map[string]any{"responses": out})
}
