package mailsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/store"
)

// The initial sync of a large mailbox is a pipeline, so that the provider,
// the parser and the database work at the same time instead of in turn:
//
//	fetcher (the one goroutine using the Mailbox)
//	  → parse workers (Config.ParseWorkers)
//	  → the caller's goroutine, which puts results back in the order asked
//	    and stores them in batches, each with the checkpoint of its last
//	    message.
//
// Every stage is bounded (a few chunks of fetchStep messages ahead of the
// batch being stored, inlineBody bytes a queued message at most), so
// memory does not grow with the mailbox. Only a prefix of the ids, in the
// order asked, is ever stored with its cursor: a crash or an error
// anywhere loses at most the batches not yet committed, which the next
// pass fetches again, and never moves a cursor past an unstored message.

// inlineBody is how much of a message the fetcher reads into memory to
// hand it to a parse worker; a larger message is parsed by the fetcher
// itself from the provider's stream, as before the pipeline, so a queue
// of huge messages never sits in memory.
const inlineBody = 1 << 20

// chunksAhead is how many fetched chunks may wait for the store beyond
// the batch being stored.
func (e *Engine) chunksAhead() int {
	return e.Config.BatchSize/fetchStep + 2
}

// parseJob is one fetched message on its way through a parse worker.
type parseJob struct {
	m    mail.Fetched
	raw  []byte
	em   crm.Email
	err  error
	done chan struct{}
}

// fetchedChunk is one Fetch's ids, in the order asked, with the jobs of
// the messages the provider returned.
type fetchedChunk struct {
	ids  []mail.ID
	jobs map[mail.ID]*parseJob
}

// fetchSave fetches ids (in that order) and stores them in batches, each
// with the checkpoint of its last message (cur when there are none) and the
// last with final, so a crash resumes after the last committed batch.
//
// With async, the last batch is stored after fetchSave returns, so that
// the caller may ask the Mailbox for the next page meanwhile: the returned
// channel gives its outcome, and the caller must receive it before it
// writes anything else to the store. The Mailbox is free once fetchSave
// returns, either way.
func (e *Engine) fetchSave(ctx context.Context, f store.Folder, cur store.FolderCursor, ids []mail.ID, checkpoints []mail.Cursor, final store.FolderCursor, async bool) (<-chan error, error) {
	g, _ := e.Mailbox.(mail.GlobalIDs)
	global := g != nil && g.GlobalIDs()

	// fctx ends the fetcher and the workers when this returns early; the
	// store works under ctx, so the last batch outlives it.
	fctx, cancel := context.WithCancel(ctx)
	chunks := make(chan fetchedChunk, e.chunksAhead())
	workers := max(e.Config.ParseWorkers, 1)
	jobs := make(chan *parseJob, 2*workers)
	var fetchErr error
	var wg sync.WaitGroup
	// Whatever ends this call, the Mailbox is no longer used when it
	// returns: the fetcher and the workers are waited for.
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j.em, j.err = e.parse(&j.m, bytes.NewReader(j.raw), global)
				j.raw = nil
				close(j.done)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		defer close(chunks)
		fetchErr = e.fetchAll(fctx, f.Name, ids, global, jobs, chunks)
	}()

	var batch []crm.Email
	var size int64
	done, pending := 0, 0 // ids up to done are committed or in batch
	flush := func(last bool) error {
		c := cur
		switch {
		case last:
			c = final
		case checkpoints != nil && done > 0:
			c.Token = string(checkpoints[done-1])
		}
		saved, err := e.Store.SaveMessages(ctx, e.Fence, f.ID, c, batch)
		if err != nil {
			return err
		}
		e.inserted.Add(int64(saved.Inserted))
		batch, size, pending = batch[:0], 0, 0
		if final.Syncing || !last {
			return e.reportProgress(ctx)
		}
		return nil
	}
	for ch := range chunks {
		for _, id := range ch.ids {
			if j, ok := ch.jobs[id]; ok {
				select {
				case <-j.done:
				case <-fctx.Done():
					return nil, fctx.Err()
				}
				if j.err != nil {
					return nil, j.err
				}
				batch = append(batch, j.em)
				size += int64(len(j.em.Text) + len(j.em.HTML))
			}
			done++ // gone meanwhile: still advance past it
			pending++
		}
		if done < len(ids) && (pending >= e.Config.BatchSize || size >= e.Config.BatchBytes) {
			if err := flush(false); err != nil {
				return nil, err
			}
		}
	}
	// The channel is closed: the fetcher has returned and fetchErr is set.
	if fetchErr != nil {
		return nil, fetchErr
	}
	if done < len(ids) {
		return nil, errors.New("fetching messages ended early") // cannot happen: fetchAll sends every chunk or fails
	}
	if !async {
		return nil, flush(true)
	}
	out := make(chan error, 1)
	go func() { out <- flush(true) }()
	return out, nil
}

// fetchAll fetches ids a chunk at a time, hands each message to the parse
// workers (or parses it here when it is large), and sends each chunk on
// once its Fetch is complete: a chunk cut by an error is never stored.
func (e *Engine) fetchAll(ctx context.Context, folder string, ids []mail.ID, global bool, jobs chan<- *parseJob, chunks chan<- fetchedChunk) error {
	for lo := 0; lo < len(ids); lo += fetchStep {
		chunk := ids[lo:min(lo+fetchStep, len(ids))]
		got := make(map[mail.ID]*parseJob, len(chunk))
		err := e.Mailbox.Fetch(ctx, folder, chunk, func(m *mail.Fetched) error {
			j := &parseJob{m: *m, done: make(chan struct{})}
			j.m.Body = nil
			got[m.ID] = j
			head, err := io.ReadAll(io.LimitReader(m.Body, inlineBody+1))
			if err != nil {
				return err
			}
			if len(head) > inlineBody {
				j.em, j.err = e.parse(&j.m, io.MultiReader(bytes.NewReader(head), m.Body), global)
				close(j.done)
				return j.err
			}
			j.raw = head
			select {
			case jobs <- j:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		if err != nil {
			return err
		}
		select {
		case chunks <- fetchedChunk{ids: chunk, jobs: got}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// parse turns one fetched message into its stored form.
func (e *Engine) parse(m *mail.Fetched, body io.Reader, global bool) (crm.Email, error) {
	p, err := e.Config.Parse(body)
	if err != nil {
		return crm.Email{}, err
	}
	em := Email(p, m.ID, m.Flags, m.InternalDate)
	em.GlobalID = global
	if m.Truncated {
		em.Warnings = append(em.Warnings, fmt.Sprintf("This message (%s) is larger than crmsync keeps of one message: only its beginning was stored, and attachments past it are missing. Open it in your mailbox to see it whole.", sizeText(m.Size)))
	}
	return em, nil
}
