package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/linker"
)

// The organisation's linking rules (which domains never name a company:
// its own, and free-mail providers beyond the built-in list) and what the
// server keeps of a disconnected mailbox. The rules are the ones GET/PUT
// /api/v1/org/linking reads and writes, checked by the same
// linker.RuleDomains.

func (s *Server) adminLinkingRoutes() {
	s.admin("GET /admin/linking", s.adminLinking)
	s.admin("POST /admin/linking", s.adminLinkingSave)
}

type adminLinkingData struct {
	Own, Freemail string // one domain a line
	Builtin       []string
	Error, Field  string
	// Retention is how long a disconnected mailbox's messages are kept,
	// in words; it is the server's --retention, not the organisation's.
	Retention string
}

func (s *Server) adminLinking(p *Page) error {
	own, freemail, err := s.cfg.Store.LinkingRules(p.Ctx(), p.Viewer.OrgID)
	if err != nil {
		return err
	}
	return s.renderLinking(p, http.StatusOK, adminLinkingData{Own: strings.Join(own, "\n"), Freemail: strings.Join(freemail, "\n")})
}

func (s *Server) renderLinking(p *Page, status int, d adminLinkingData) error {
	d.Builtin = slices.Sorted(slices.Values(linker.FreemailDomains))
	d.Retention = durationWords(p, s.cfg.Retention)
	return p.RenderStatus(status, "admin_linking", d)
}

// durationWords says a retention in days (or hours, under a day).
func durationWords(p *Page, d time.Duration) string {
	if d < 24*time.Hour {
		return p.P.N("admin.hours", int((d+time.Hour-1)/time.Hour))
	}
	return p.P.N("admin.days", int((d+24*time.Hour-1)/(24*time.Hour)))
}

// lines splits a textarea into its non-empty lines (commas and spaces
// separate too: a pasted list is accepted as it comes).
func lines(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ' ' || r == '\t' || r == ';' })
}

func (s *Server) adminLinkingSave(p *Page) error {
	d := adminLinkingData{Own: p.R.PostFormValue("own_domains"), Freemail: p.R.PostFormValue("freemail_domains")}
	own, err := linker.RuleDomains("own_domains", lines(d.Own))
	if err == nil {
		var freemail []string
		if freemail, err = linker.RuleDomains("freemail_domains", lines(d.Freemail)); err == nil {
			err = s.cfg.Store.PutLinkingRules(p.Ctx(), p.Viewer.OrgID, own, freemail)
		}
	}
	var fe *crm.FieldError
	if errors.As(err, &fe) {
		field, idx, _ := strings.Cut(strings.TrimSuffix(fe.Field, "]"), "[")
		d.Field, d.Error = field, p.P.T("admin.linking.too_many", "Max", p.P.Number(linker.MaxRuleDomains))
		if i, err := strconv.Atoi(idx); err == nil {
			src := d.Own
			if field == "freemail_domains" {
				src = d.Freemail
			}
			if items := lines(src); i < len(items) {
				d.Error = p.P.T("admin.linking.invalid", "Domain", items[i])
			}
		}
		return s.renderLinking(p, http.StatusUnprocessableEntity, d)
	}
	if err != nil {
		return err
	}
	p.Flash("admin.linking.saved")
	p.Redirect("/admin/linking")
	return nil
}
