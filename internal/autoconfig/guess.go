package autoconfig

import (
	"context"
	"fmt"
	"strconv"
)

// candidate is a guessed server.
type candidate struct {
	proto Protocol
	host  string
	port  int
	sec   Security
}

// guessCandidates lists, best first, the names and ports mail servers
// commonly use: implicit TLS before STARTTLS (RFC 8314), the protocol's own
// name before the catch-all "mail.". Like Thunderbird's guessing
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration), plaintext is
// never guessed: a server that only speaks it must be entered by hand.
func guessCandidates(domain string) (imap, smtp []candidate) {
	imap = []candidate{
		{IMAP, "imap." + domain, 993, TLS},
		{IMAP, "mail." + domain, 993, TLS},
		{IMAP, "imap." + domain, 143, StartTLS},
		{IMAP, "mail." + domain, 143, StartTLS},
	}
	smtp = []candidate{
		{SMTP, "smtp." + domain, 465, TLS},
		{SMTP, "mail." + domain, 465, TLS},
		{SMTP, "smtp." + domain, 587, StartTLS},
		{SMTP, "mail." + domain, 587, StartTLS},
	}
	return imap, smtp
}

// maxParallelProbes bounds the connections a guess opens at once.
const maxParallelProbes = 4

// guess probes the candidates concurrently and keeps, per protocol, the
// best-ranked one that answered.
func guess(ctx context.Context, probe Prober, a address) outcome {
	imapC, smtpC := guessCandidates(a.domain)
	sem := make(chan struct{}, maxParallelProbes)
	imapCtx, cancelIMAP := context.WithCancel(ctx)
	defer cancelIMAP()
	smtpCtx, cancelSMTP := context.WithCancel(ctx)
	defer cancelSMTP()
	imapRes := startProbes(imapCtx, probe, sem, imapC)
	smtpRes := startProbes(smtpCtx, probe, sem, smtpC)

	bestIMAP, imapNotes := firstConfirmed(imapC, imapRes)
	cancelIMAP()
	if bestIMAP < 0 {
		cancelSMTP()
		return outcome{tried: imapNotes}
	}
	bestSMTP, _ := firstConfirmed(smtpC, smtpRes)
	cancelSMTP()

	c := imapC[bestIMAP]
	res := Result{
		IMAP:   serverFor(a, c.host, c.port, c.sec, UsernameEmail),
		Source: SourceGuess,
		Auth:   AuthPassword,
		Hint: "These settings are a guess confirmed by connecting to the server. " +
			"If signing in fails, try the part of your address before the @ as the username.",
	}
	res.Detail = fmt.Sprintf("guessed %s, which answered IMAP on port %d", c.host, c.port)
	if bestSMTP >= 0 {
		s := smtpC[bestSMTP]
		res.SMTP = serverFor(a, s.host, s.port, s.sec, UsernameEmail)
		res.Detail += fmt.Sprintf(", and %s, which answered SMTP on port %d", s.host, s.port)
	}
	return outcome{res: res, ok: true}
}

// startProbes runs probe on every candidate, at most cap(sem) at a time
// across all calls sharing sem, and returns one result channel per
// candidate.
func startProbes(ctx context.Context, probe Prober, sem chan struct{}, cs []candidate) []chan error {
	res := make([]chan error, len(cs))
	for i, c := range cs {
		res[i] = make(chan error, 1)
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				res[i] <- ctx.Err()
				return
			}
			defer func() { <-sem }()
			if err := ctx.Err(); err != nil {
				res[i] <- err
				return
			}
			res[i] <- probe(ctx, c.proto, c.host, c.port, c.sec)
		}()
	}
	return res
}

// firstConfirmed waits for the results in rank order and returns the index
// of the first candidate confirmed (-1 if none), with notes on the others.
// A lower-ranked server that answered first still waits for the better ones
// to fail: the best answer is worth the wait, and the wait is bounded by the
// probe timeout.
func firstConfirmed(cs []candidate, res []chan error) (int, []string) {
	var notes []string
	for i, c := range cs {
		err := <-res[i]
		if err == nil {
			return i, notes
		}
		notes = append(notes, fmt.Sprintf("guess %s %s:%s (%s): %v", c.proto, c.host, strconv.Itoa(c.port), c.sec, err))
	}
	return -1, notes
}
