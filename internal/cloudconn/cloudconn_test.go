package cloudconn

import (
	"context"
	"testing"

	"golang.org/x/oauth2"
)

type plainSource struct{ tok string }

func (s *plainSource) Token() (*oauth2.Token, error) { return &oauth2.Token{AccessToken: s.tok}, nil }

type stalerSource struct {
	plainSource
	staled []string
}

func (s *stalerSource) Stale(stale string) (*oauth2.Token, error) {
	s.staled = append(s.staled, stale)
	s.tok = "new"
	return &oauth2.Token{AccessToken: s.tok}, nil
}

func TestTokensReplaceARefusedToken(t *testing.T) {
	ctx := context.Background()
	s := &stalerSource{plainSource: plainSource{tok: "old"}}
	tokens := Tokens(s)
	if tok, err := tokens(ctx, ""); err != nil || tok != "old" || len(s.staled) != 0 {
		t.Fatalf("first: %q %v %v", tok, err, s.staled)
	}
	if tok, err := tokens(ctx, "old"); err != nil || tok != "new" || len(s.staled) != 1 || s.staled[0] != "old" {
		t.Fatalf("refused: %q %v %v", tok, err, s.staled)
	}
	// A source that cannot refresh on demand gives what it has.
	if tok, err := Tokens(&plainSource{tok: "only"})(ctx, "only"); err != nil || tok != "only" {
		t.Fatalf("plain: %q %v", tok, err)
	}
}

func TestOneGatePerTokenSet(t *testing.T) {
	c := &Clients{}
	g1 := c.Gate(Microsoft, "c1", 4)
	if c.Gate(Microsoft, "c1", 4) != g1 || c.Gate(Microsoft, "c2", 4) == g1 || c.Gate("google", "c1", 4) == g1 {
		t.Error("one gate per provider and token set")
	}
	if h := c.HTTPClient(); h == nil || h != c.HTTPClient() {
		t.Error("one guarded client per Clients")
	}
	c.Forget(Microsoft, "c1")
	if c.Gate(Microsoft, "c1", 4) == g1 {
		t.Error("a forgotten token set keeps its gate")
	}
}
