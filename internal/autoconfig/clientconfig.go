package autoconfig

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The domain's own configuration file, in the format Thunderbird defined
// and other clients adopted ("clientConfig" version 1.1):
// https://wiki.mozilla.org/Thunderbird:Autoconfiguration (mechanism) and
// https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat
// (format), mirrored in github.com/thunderbird/autoconfig, docs/.

// maxConfigSize bounds an autoconfig file; real ones are a few kilobytes.
const maxConfigSize = 1 << 20

// configURL is one place an autoconfig file may be.
type configURL struct {
	url   string // what is fetched
	shown string // the same without the query, for Detail
}

// configURLs lists where the file of a's domain may be, in the order of
// preference of the Mozilla wiki: autoconfig.DOMAIN (which receives the
// address, so a server can compute a username that is not derived from
// it), then DOMAIN/.well-known/autoconfig. Both over https; http is tried
// for autoconfig.DOMAIN only, as many hosters still serve it there, and
// without the address, which would otherwise cross the network in clear.
func configURLs(a address) []configURL {
	const path = "/mail/config-v1.1.xml"
	q := url.Values{"emailaddress": {a.email}}.Encode()
	return []configURL{
		{"https://autoconfig." + a.domain + path + "?" + q, "https://autoconfig." + a.domain + path},
		{"https://" + a.domain + "/.well-known/autoconfig" + path, "https://" + a.domain + "/.well-known/autoconfig" + path},
		{"http://autoconfig." + a.domain + path, "http://autoconfig." + a.domain + path},
	}
}

// fromXML fetches the candidate files concurrently and uses the first, in
// order of preference, that parses into an IMAP server.
func fromXML(ctx context.Context, client *http.Client, a address) outcome {
	urls := configURLs(a)
	type fetched struct {
		res Result
		err error
	}
	results := make([]chan fetched, len(urls))
	for i, u := range urls {
		results[i] = make(chan fetched, 1)
		go func() {
			body, err := fetchConfig(ctx, client, u.url)
			if err != nil {
				results[i] <- fetched{err: err}
				return
			}
			res, err := parseClientConfig(body, a)
			results[i] <- fetched{res: res, err: err}
		}()
	}
	var tried []string
	for i, u := range urls {
		f := <-results[i]
		if f.err != nil {
			tried = append(tried, u.shown+": "+f.err.Error())
			continue
		}
		f.res.Source = SourceXML
		f.res.Detail = "the domain's autoconfig file at " + u.shown
		if strings.HasPrefix(u.url, "http:") {
			f.res.Detail += " (fetched without TLS)"
		}
		return outcome{res: f.res, ok: true}
	}
	return outcome{tried: tried}
}

// fetchConfig GETs u and returns its body. The Content-Type is not
// trusted, nor required: the body must parse as a clientConfig document,
// which a web server's catch-all HTML page does not.
func fetchConfig(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/xml, text/xml;q=0.9, */*;q=0.1")
	req.Header.Set("User-Agent", "crmsync-autoconfig")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is said by the caller
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxConfigSize {
		return nil, fmt.Errorf("larger than %d bytes", maxConfigSize)
	}
	return body, nil
}

// The parts of clientConfig 1.1 that crmsync uses.
type xmlClientConfig struct {
	XMLName   xml.Name           `xml:"clientConfig"`
	Providers []xmlEmailProvider `xml:"emailProvider"`
	Enable    []xmlEnable        `xml:"enable"`
}

type xmlEmailProvider struct {
	Incoming []xmlServer `xml:"incomingServer"`
	Outgoing []xmlServer `xml:"outgoingServer"`
	Enable   []xmlEnable `xml:"enable"`
}

type xmlServer struct {
	Type       string   `xml:"type,attr"`
	Hostname   string   `xml:"hostname"`
	Port       string   `xml:"port"` // a string, so that one bad port skips a server, not the file
	SocketType string   `xml:"socketType"`
	Username   string   `xml:"username"`
	Auth       []string `xml:"authentication"`
}

// xmlEnable is a provider's note that something must be switched on before
// a mail app can connect (IMAP access, an app password).
type xmlEnable struct {
	VisitURL     string `xml:"visiturl,attr"`
	Instructions []struct {
		Lang string `xml:"lang,attr"`
		Text string `xml:",chardata"`
	} `xml:"instruction"`
}

// parseClientConfig reads a clientConfig document for address a. It fails
// unless the document names a usable IMAP server.
func parseClientConfig(data []byte, a address) (Result, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	// Files in the wild carry small errors (an "&amP;" in GMX's, for one)
	// that Thunderbird's parser forgives; so do we.
	dec.Strict = false
	dec.CharsetReader = charsetReader
	var cc xmlClientConfig
	if err := dec.Decode(&cc); err != nil {
		return Result{}, fmt.Errorf("not an autoconfig file: %w", err)
	}
	var incoming, outgoing []xmlServer
	var enables []xmlEnable
	for _, p := range cc.Providers {
		incoming = append(incoming, p.Incoming...)
		outgoing = append(outgoing, p.Outgoing...)
		enables = append(enables, p.Enable...)
	}
	enables = append(enables, cc.Enable...)
	imap, imapAuth := pickServer(incoming, "imap", a)
	if imap == nil {
		return Result{}, errors.New("no usable IMAP server in the autoconfig file")
	}
	smtp, _ := pickServer(outgoing, "smtp", a)

	res := Result{IMAP: imap, SMTP: smtp, Auth: AuthPassword}
	if oauthOnly(imapAuth) {
		res.Auth = AuthOAuth
	}
	var hints []string
	if h := enableHint(enables); h != "" {
		hints = append(hints, h)
	}
	if imap.Security == None || smtp != nil && smtp.Security == None {
		hints = append(hints, "This server does not encrypt the connection: your password "+
			"and mail would cross the network unprotected. Ask your provider for TLS.")
	}
	res.Hint = strings.Join(hints, " ")
	return res, nil
}

// pickServer returns the best usable server of the given type, with its
// authentication methods. Implicit TLS ("SSL") is preferred to STARTTLS,
// and STARTTLS to plain; among equals, the file's order, which is the
// provider's preference.
func pickServer(servers []xmlServer, typ string, a address) (*Server, []string) {
	var best *Server
	var bestAuth []string
	bestRank := 3
	for _, s := range servers {
		if !strings.EqualFold(strings.TrimSpace(s.Type), typ) {
			continue
		}
		sec, rank, ok := socketType(s.SocketType)
		if !ok || rank >= bestRank {
			continue
		}
		host := cleanHost(expand(s.Hostname, a))
		port, err := strconv.Atoi(strings.TrimSpace(s.Port))
		if host == "" || err != nil || port < 1 || port > 65535 {
			continue
		}
		user, form := username(s.Username, a)
		best = &Server{Host: host, Port: port, Security: sec, Username: user, UsernameForm: form}
		bestAuth, bestRank = s.Auth, rank
	}
	return best, bestAuth
}

// socketType maps the file's socketType to a Security and its rank.
func socketType(s string) (Security, int, bool) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "SSL":
		return TLS, 0, true
	case "STARTTLS":
		return StartTLS, 1, true
	case "PLAIN":
		return None, 2, true
	}
	return "", 0, false
}

// expand replaces the placeholders of the format.
func expand(s string, a address) string {
	return strings.NewReplacer(
		"%EMAILADDRESS%", a.email,
		"%EMAILLOCALPART%", a.local,
		"%EMAILDOMAIN%", a.domain,
	).Replace(strings.TrimSpace(s))
}

// username resolves a username template for a. An absent one means the
// address, as the common case.
func username(tpl string, a address) (string, UsernameForm) {
	u := expand(tpl, a)
	switch {
	case u == "" || u == a.email:
		return a.email, UsernameEmail
	case u == a.local:
		return a.local, UsernameLocalPart
	case len(u) > 256 || strings.Contains(u, "%") || !printable(u):
		// An unknown placeholder or garbage: better to ask the user.
		return "", UsernameOther
	}
	return u, UsernameOther
}

// oauthOnly reports whether the listed methods are all OAuth2.
func oauthOnly(methods []string) bool {
	n := 0
	for _, m := range methods {
		m = strings.TrimSpace(m)
		if m == "" {
			continue
		}
		if !strings.EqualFold(m, "OAuth2") {
			return false
		}
		n++
	}
	return n > 0
}

// maxHintLen bounds the text taken from a file for Result.Hint.
const maxHintLen = 300

// enableHint makes a hint of the first <enable> instruction, in English
// (or without a language), with its link when that is an http(s) URL.
func enableHint(es []xmlEnable) string {
	for _, e := range es {
		text := ""
		for _, in := range e.Instructions {
			if in.Lang == "" || strings.EqualFold(in.Lang, "en") {
				text = clean(in.Text)
				break
			}
		}
		if text == "" {
			continue
		}
		if u, err := url.Parse(strings.TrimSpace(e.VisitURL)); err == nil && u.Host != "" &&
			(u.Scheme == "https" || u.Scheme == "http") && len(u.String()) <= maxHintLen {
			text += " (" + u.String() + ")"
		}
		return text
	}
	return ""
}

// clean collapses white space, drops control characters and bounds the
// length of a text from a file.
func clean(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
	}), " ")
	if utf8.RuneCountInString(s) > maxHintLen {
		s = string([]rune(s)[:maxHintLen]) + "…"
	}
	return s
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// charsetReader lets the decoder read the encodings autoconfig files are
// written in: UTF-8 (the format's) and, seen in older files, Latin-1.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		b, err := io.ReadAll(io.LimitReader(input, maxConfigSize))
		if err != nil {
			return nil, err
		}
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return strings.NewReader(string(r)), nil
	}
	return nil, fmt.Errorf("unsupported charset %q", charset)
}
