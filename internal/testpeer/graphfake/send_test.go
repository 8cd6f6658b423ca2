package graphfake

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// call sends one request with a bearer token and returns the status and
// the body.
func callBytes(t *testing.T, srv *httptest.Server, method, path, ctype, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/v1.0/me/"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer t")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sendMail as the reference has it (§6.4): MIME or JSON, saved to Sent
// Items unless saveToSentItems is false, bad base64 refused; the copy
// found with $filter on internetMessageId; a JSON message's attachment
// listed and served (§6.5).
func TestSendMailListAndAttachments(t *testing.T) {
	g := NewGraph()
	g.SetOwner("ann@acme.test")
	srv := httptest.NewServer(g)
	defer srv.Close()

	mimeMsg := "From: ann@acme.test\r\nTo: bob@globex.test\r\nBcc: dan@acme.test\r\nSubject: MIME\r\nMessage-ID: <mime-1@acme.test>\r\n\r\nHi\r\n"
	if st, b := callBytes(t, srv, "POST", "sendMail", "text/plain", base64.StdEncoding.EncodeToString([]byte(mimeMsg))); st != http.StatusAccepted || len(b) != 0 {
		t.Fatalf("MIME send: %d %s", st, b)
	}
	if st, b := callBytes(t, srv, "POST", "sendMail", "text/plain", "not base64!"); st != 400 || !strings.Contains(string(b), "ErrorMimeContentInvalidBase64String") {
		t.Fatalf("bad base64: %d %s", st, b)
	}
	body := `{"message":{"subject":"JSON","body":{"contentType":"Text","content":"Hello"},
		"toRecipients":[{"emailAddress":{"address":"carol@client.test"}}],
		"internetMessageHeaders":[{"name":"x-crm-ref","value":"NV001"}],
		"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentType":"text/plain","contentBytes":"SGVsbG8="}]},
		"saveToSentItems":true}`
	if st, b := callBytes(t, srv, "POST", "sendMail", "application/json", body); st != http.StatusAccepted {
		t.Fatalf("JSON send: %d %s", st, b)
	}
	unsaved := strings.Replace(strings.Replace(body, `"saveToSentItems":true`, `"saveToSentItems":false`, 1), `"JSON"`, `"Unsaved"`, 1)
	if st, b := callBytes(t, srv, "POST", "sendMail", "application/json", unsaved); st != http.StatusAccepted {
		t.Fatalf("unsaved send: %d %s", st, b)
	}
	sent := g.SentMail()
	if len(sent) != 3 || strings.Join(sent[0].Recipients, ",") != "bob@globex.test,dan@acme.test" || strings.Contains(string(sent[0].Raw), "dan@") {
		t.Fatalf("sent: %+v", sent)
	}
	if sent[0].SavedID == "" || sent[1].SavedID == "" || sent[2].SavedID != "" || !strings.Contains(string(sent[1].Raw), "x-crm-ref: NV001") {
		t.Fatalf("saved copies: %q %q %q", sent[0].SavedID, sent[1].SavedID, sent[2].SavedID)
	}

	var page struct {
		Value []struct {
			ID                string `json:"id"`
			InternetMessageID string `json:"internetMessageId"`
		} `json:"value"`
	}
	q := "mailFolders/sentitems/messages?$filter=" + url.QueryEscape("internetMessageId eq '<mime-1@acme.test>'")
	if st, b := callBytes(t, srv, "GET", q, "", ""); st != 200 || json.Unmarshal(b, &page) != nil || len(page.Value) != 1 || page.Value[0].ID != sent[0].SavedID+"."+g.mail.folder("sentitems").id {
		t.Fatalf("filter: %d %s", st, b)
	}
	if st, b := callBytes(t, srv, "GET", "messages?$filter="+url.QueryEscape("subject eq 'x'"), "", ""); st != 400 {
		t.Fatalf("unsupported filter: %d %s", st, b)
	}
	if st, b := callBytes(t, srv, "GET", "mailFolders/sentitems/messages", "", ""); st != 200 || json.Unmarshal(b, &page) != nil || len(page.Value) != 2 {
		t.Fatalf("Sent Items: %d %s", st, b)
	}

	var atts struct {
		Value []map[string]any `json:"value"`
	}
	st, b := callBytes(t, srv, "GET", "messages/"+sent[1].SavedID+"/attachments?$select=id,name,size", "", "")
	if st != 200 || json.Unmarshal(b, &atts) != nil || len(atts.Value) != 1 || atts.Value[0]["name"] != "a.txt" || atts.Value[0]["contentBytes"] != nil {
		t.Fatalf("attachments: %d %s", st, b)
	}
	aid := atts.Value[0]["id"].(string)
	if st, b := callBytes(t, srv, "GET", "messages/"+sent[1].SavedID+"/attachments/"+aid+"/$value", "", ""); st != 200 || string(b) != "Hello" {
		t.Fatalf("attachment bytes: %d %q", st, b)
	}
	if st, b := callBytes(t, srv, "GET", "messages/"+sent[1].SavedID+"/attachments/"+aid, "", ""); st != 200 || !strings.Contains(string(b), `"contentBytes":"SGVsbG8="`) {
		t.Fatalf("attachment: %d %s", st, b)
	}
	if st, _ := callBytes(t, srv, "GET", "messages/"+sent[1].SavedID+"/attachments/nope/$value", "", ""); st != 404 {
		t.Fatalf("unknown attachment: %d", st)
	}
}
