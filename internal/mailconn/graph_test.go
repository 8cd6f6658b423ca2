package mailconn

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

func TestGraphTokensReplaceARefusedToken(t *testing.T) {
	ctx := context.Background()
	s := &stalerSource{plainSource: plainSource{tok: "old"}}
	tokens := graphTokens(s)
	if tok, err := tokens(ctx, ""); err != nil || tok != "old" || len(s.staled) != 0 {
		t.Fatalf("first: %q %v %v", tok, err, s.staled)
	}
	if tok, err := tokens(ctx, "old"); err != nil || tok != "new" || len(s.staled) != 1 || s.staled[0] != "old" {
		t.Fatalf("refused: %q %v %v", tok, err, s.staled)
	}
	// A source that cannot refresh on demand gives what it has.
	if tok, err := graphTokens(&plainSource{tok: "only"})(ctx, "only"); err != nil || tok != "only" {
		t.Fatalf("plain: %q %v", tok, err)
	}
}

func TestGraphGateIsPerMailbox(t *testing.T) {
	c := &Connector{}
	g1, h1 := c.graph(1)
	g1b, h1b := c.graph(1)
	g2, _ := c.graph(2)
	if g1 != g1b || g1 == g2 || h1 != h1b || h1 == nil {
		t.Error("one gate per mailbox, one client per connector")
	}
}
