package graphmail

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail"
)

// Attachments on demand (reference §6.5): a message's attachments are
// listed without their content, the one asked for is matched to the
// stored message's list (parsed from the MIME, so numbered in MIME order,
// which Graph's list need not follow) and its bytes streamed from $value.
// A large attachment is thus fetched alone, not with the whole message.

type graphAttachment struct {
	Type        string `json:"@odata.type"`
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	IsInline    bool   `json:"isInline"`
	ContentID   string `json:"contentId"`
}

// maxAttachmentPages bounds the listing of one message's attachments.
const maxAttachmentPages = 20

// FetchAttachment streams one attachment's bytes (mail.AttachmentFetcher).
func (m *Mailbox) FetchAttachment(ctx context.Context, folder string, id mail.ID, attachments []mail.Attachment, index int, max int64, w io.Writer) (bool, error) {
	if index < 0 || index >= len(attachments) {
		return false, nil
	}
	if max <= 0 {
		max = m.max
	}
	msg := "/me/messages/" + url.PathEscape(string(id)) + "/attachments"
	var list []graphAttachment
	u := msg + "?$select=id,name,contentType,size,isInline,contentId"
	for pages := 0; u != "" && pages < maxAttachmentPages; pages++ {
		var page struct {
			Value []graphAttachment `json:"value"`
			Next  string            `json:"@odata.nextLink"`
		}
		err := m.getJSON(ctx, u, maxPage, &page)
		if ce := connerr.As(err); ce != nil && ce.Kind == connerr.Protocol && cloudapi.Status(err) == 0 {
			// An answer too large or unreadable (the contents came along):
			// the whole MIME will do.
			return false, nil
		}
		if err != nil {
			return false, err
		}
		list = append(list, page.Value...)
		u = page.Next
	}
	a := matchAttachment(list, attachments, index)
	if a == nil {
		return false, nil
	}
	if a.Size > max {
		return false, tooLarge(m.c.Server, max)
	}
	resp, err := m.c.Do(ctx, cloudapi.Request{Method: http.MethodGet, URL: msg + "/" + url.PathEscape(a.ID) + "/$value"})
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > max {
		return true, tooLarge(m.c.Server, max)
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, max+1))
	if err != nil {
		return true, err
	}
	if n > max {
		return true, tooLarge(m.c.Server, max)
	}
	return true, nil
}

func tooLarge(server string, max int64) error {
	return &connerr.Error{Kind: connerr.Protocol, Server: server,
		Message: fmt.Sprintf("This attachment is larger than the %d MiB crmsync fetches; open the message in Outlook to get it.", max>>20)}
}

// matchAttachment finds Graph's attachment for attachments[index]: the
// file attachment with its content id, else the one with its name in the
// same rank among those of that name; nil when none (an attached message,
// which Graph lists as an item attachment, has no bytes of its own).
func matchAttachment(list []graphAttachment, attachments []mail.Attachment, index int) *graphAttachment {
	want := attachments[index]
	var files []*graphAttachment
	for i := range list {
		if strings.HasSuffix(strings.ToLower(list[i].Type), "fileattachment") && list[i].ID != "" {
			files = append(files, &list[i])
		}
	}
	if cid := strings.Trim(want.ContentID, "<> "); cid != "" {
		var hit []*graphAttachment
		for _, f := range files {
			if strings.Trim(f.ContentID, "<> ") == cid {
				hit = append(hit, f)
			}
		}
		if len(hit) == 1 {
			return hit[0]
		}
	}
	rank := 0
	for _, a := range attachments[:index] {
		if a.Filename == want.Filename {
			rank++
		}
	}
	for _, f := range files {
		if f.Name == want.Filename {
			if rank == 0 {
				return f
			}
			rank--
		}
	}
	return nil
}
