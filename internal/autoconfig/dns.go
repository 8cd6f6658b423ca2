package autoconfig

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
)

// srvService is one SRV service name and the security it implies.
type srvService struct {
	proto   Protocol
	service string
	sec     Security
}

// The services of RFC 6186 §3.1 and §3.2 ("_submission", "_imap",
// "_imaps") and RFC 8314's "_submissions" (submission over implicit TLS,
// port 465). "_imap" and "_submission" are STARTTLS services; RFC 8314
// forbids using them without TLS, so they never yield Security None.
var srvServices = []srvService{
	{IMAP, "imaps", TLS},
	{IMAP, "imap", StartTLS},
	{SMTP, "submissions", TLS},
	{SMTP, "submission", StartTLS},
}

// srvTarget is one usable SRV record.
type srvTarget struct {
	svc    srvService
	host   string
	port   int
	prio   uint16
	weight uint16
}

// fromSRV looks the domain's mail services up in DNS, RFC 6186.
func fromSRV(ctx context.Context, r Resolver, a address) outcome {
	answers := make([][]srvTarget, len(srvServices))
	notes := make([]string, len(srvServices))
	var wg sync.WaitGroup
	for i, svc := range srvServices {
		wg.Go(func() {
			answers[i], notes[i] = lookupSRV(ctx, r, svc, a.domain)
		})
	}
	wg.Wait()

	var imap, smtp []srvTarget
	for _, ts := range answers {
		for _, t := range ts {
			if t.svc.proto == IMAP {
				imap = append(imap, t)
			} else {
				smtp = append(smtp, t)
			}
		}
	}
	bestIMAP, ok := pickSRV(imap)
	if !ok {
		var tried []string
		for _, n := range notes {
			if n != "" {
				tried = append(tried, n)
			}
		}
		return outcome{tried: tried}
	}
	// SRV records say nothing of usernames: the full address is the form
	// most servers expect.
	res := Result{
		IMAP:   serverFor(a, bestIMAP.host, bestIMAP.port, bestIMAP.svc.sec, UsernameEmail),
		Source: SourceSRV,
		Auth:   AuthPassword,
	}
	detail := "DNS SRV record " + srvName(bestIMAP.svc, a.domain)
	if bestSMTP, ok := pickSRV(smtp); ok {
		res.SMTP = serverFor(a, bestSMTP.host, bestSMTP.port, bestSMTP.svc.sec, UsernameEmail)
		detail = "DNS SRV records " + srvName(bestIMAP.svc, a.domain) + " and " + srvName(bestSMTP.svc, a.domain)
	}
	res.Detail = detail + " (RFC 6186)"
	return outcome{res: res, ok: true}
}

func srvName(svc srvService, domain string) string {
	return "_" + svc.service + "._tcp." + domain
}

// lookupSRV returns the usable records of one service, and a note when
// there are none.
func lookupSRV(ctx context.Context, r Resolver, svc srvService, domain string) ([]srvTarget, string) {
	_, recs, err := r.LookupSRV(ctx, svc.service, "tcp", fqdn(domain))
	name := srvName(svc, domain)
	if len(recs) == 0 {
		if err != nil {
			return nil, fmt.Sprintf("SRV %s: %v", name, dnsErr(err))
		}
		return nil, "SRV " + name + ": no records"
	}
	var ts []srvTarget
	for _, rec := range recs {
		// RFC 2782: a target of "." means the service is decidedly not
		// offered at this domain (RFC 6186 §3 repeats it for mail).
		host := cleanHost(rec.Target)
		if host == "" || rec.Port == 0 {
			continue
		}
		t := srvTarget{svc: svc, host: host, port: int(rec.Port), prio: rec.Priority, weight: rec.Weight}
		// Records older than RFC 8314 put port 465 (or 993) under the
		// STARTTLS name, since there was no other (OVH publishes
		// _submission._tcp 465, for one); no server speaks STARTTLS there.
		if t.svc.sec == StartTLS && (t.port == 465 || t.port == 993) {
			t.svc.sec = TLS
		}
		ts = append(ts, t)
	}
	if len(ts) == 0 {
		return nil, "SRV " + name + ": service not offered"
	}
	return ts, ""
}

// pickSRV chooses among the records of a protocol's services (imaps and
// imap, or submissions and submission). The lowest priority wins across
// both services: RFC 6186 (section 3.4) has priorities compare across
// services, so that a domain can say which it prefers. At equal priority
// implicit TLS wins (RFC 8314); among what is left the weights choose, as
// RFC 2782 describes.
func pickSRV(ts []srvTarget) (srvTarget, bool) {
	if len(ts) == 0 {
		return srvTarget{}, false
	}
	minPrio := ts[0].prio
	for _, t := range ts {
		minPrio = min(minPrio, t.prio)
	}
	var top []srvTarget
	for _, t := range ts {
		if t.prio == minPrio {
			top = append(top, t)
		}
	}
	if slices.ContainsFunc(top, func(t srvTarget) bool { return t.svc.sec == TLS }) {
		top = slices.DeleteFunc(top, func(t srvTarget) bool { return t.svc.sec != TLS })
	}
	return top[weightedIndex(top)], true
}

// weightedIndex picks an index with probability proportional to its weight
// (RFC 2782, "Usage rules"); with all weights zero, uniformly.
func weightedIndex(ts []srvTarget) int {
	sum := 0
	for _, t := range ts {
		sum += int(t.weight)
	}
	if sum == 0 {
		return rand.IntN(len(ts))
	}
	n := rand.IntN(sum)
	for i, t := range ts {
		n -= int(t.weight)
		if n < 0 {
			return i
		}
	}
	return len(ts) - 1
}

// fromMX recognises a domain hosted at a provider of the table by its MX
// hosts, in order of preference.
func fromMX(ctx context.Context, r Resolver, a address) outcome {
	mxs, err := r.LookupMX(ctx, fqdn(a.domain))
	if len(mxs) == 0 {
		if err != nil {
			return outcome{tried: []string{fmt.Sprintf("MX %s: %v", a.domain, dnsErr(err))}}
		}
		return outcome{tried: []string{"MX " + a.domain + ": no records"}}
	}
	mxs = slices.Clone(mxs)
	slices.SortStableFunc(mxs, func(x, y *net.MX) int { return int(x.Pref) - int(y.Pref) })
	var hosts []string
	for _, mx := range mxs {
		// A null MX (RFC 7505, host ".") cleans to "": the domain takes no mail.
		h := cleanHost(mx.Host)
		if h == "" {
			continue
		}
		hosts = append(hosts, h)
		if p := providerByMX(h); p != nil {
			detail := "the domain's mail is delivered to " + h + ", a " + p.name + " server (DNS MX record)"
			return outcome{res: p.result(a, SourceMX, detail), ok: true}
		}
	}
	return outcome{tried: []string{"MX " + a.domain + ": " + strings.Join(hosts, ", ") + " (no known provider)"}}
}

// dnsErr shortens a resolver error for a note.
func dnsErr(err error) string {
	if de, ok := err.(*net.DNSError); ok {
		if de.IsNotFound {
			return "no such name"
		}
		return de.Err
	}
	return err.Error()
}
