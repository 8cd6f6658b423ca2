package imapsync

import (
	"encoding/json"
	"fmt"

	"github.com/emersion/go-sasl"
)

// XOAUTH2 is Google's SASL mechanism for OAuth 2.0 bearer tokens, also
// spoken by Microsoft 365; there is no RFC (RFC 7628 OAUTHBEARER is the
// standard one, which neither provider's IMAP accepts everywhere). Format:
// https://developers.google.com/gmail/imap/xoauth2-protocol
//
//	initial client response = "user=" user "\x01auth=Bearer " token "\x01\x01"
//
// sent base64-encoded (go-imap does the base64). On failure the server
// sends one challenge, a base64 JSON object ({"status":"401",
// "schemes":"Bearer","scope":"https://mail.google.com/"}); the client must
// answer it with an empty response, after which the server sends the final
// NO.
const xoauth2Mech = "XOAUTH2"

// xoauth2Error is the JSON the server sends as its error challenge.
type xoauth2Error struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes"`
	Scope   string `json:"scope"`
}

func (e *xoauth2Error) Error() string {
	return fmt.Sprintf("XOAUTH2 refused: status %s (scope %q)", e.Status, e.Scope)
}

// xoauth2Client implements sasl.Client. It keeps the server's error
// challenge so the NO that follows can be explained.
type xoauth2Client struct {
	user, token string
	challenged  bool
	err         *xoauth2Error // the decoded error challenge, if any
	raw         []byte        // the challenge when it was not JSON
}

var _ sasl.Client = (*xoauth2Client)(nil)

func newXOAuth2Client(user, token string) *xoauth2Client {
	return &xoauth2Client{user: user, token: token}
}

// xoauth2Response is the initial client response.
func xoauth2Response(user, token string) []byte {
	return []byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01")
}

func (c *xoauth2Client) Start() (mech string, ir []byte, err error) {
	return xoauth2Mech, xoauth2Response(c.user, c.token), nil
}

// Next answers the error challenge with the empty response the protocol
// asks for: returning an error instead would leave the server waiting in
// the middle of AUTHENTICATE. A second challenge is a protocol violation.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if c.challenged {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	c.challenged = true
	var e xoauth2Error
	if err := json.Unmarshal(challenge, &e); err == nil && e.Status != "" {
		c.err = &e
	} else {
		c.raw = append([]byte(nil), challenge...)
	}
	return []byte{}, nil
}
