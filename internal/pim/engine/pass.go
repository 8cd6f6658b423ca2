package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// collectionPass syncs one collection once (DESIGN §9; the steps are those
// of package pim's doc, "A pass, per item").
type collectionPass struct {
	cfg    Config
	port   Port
	coll   store.PIMCollection
	remote pim.Remote
	side   recordSide
	policy pim.Policy
	// importCats selects the remote items (and their categories) that
	// come into the CRM; empty means all.
	importCats []string
	// only, when not empty, limits the records synced both ways to those
	// with one of these categories (the event categories a user picked).
	only []string

	byHref  map[string]*store.PIMItem
	byCRM   map[int64]*store.PIMItem
	records map[int64]*localRecord
	handled map[int64]bool // CRM records dealt with in this pass
	byEmail map[string][]int64
	dated   map[string]bool // remote items whose server date was asked for
	stats   Stats
	// backlog counts the records whose fixed categories are left for the
	// next pass.
	backlog int
	// itemErrors are the records the server refused (see Result).
	itemErrors []string
	// warnings are the items stored without some values (see Result).
	warnings []string
	// conflicted counts the conflicts of this pass (see conflictEvents).
	conflicted int
	// imports wait for the end of their fetched batch (flushImports).
	imports []importJob
}

// maxRetries bounds the refetch-and-merge rounds of one item whose remote
// or CRM side keeps changing under the engine.
const maxRetries = 3

func (p *collectionPass) run(ctx context.Context) error {
	items, err := p.port.PIMItems(ctx, p.coll.ID)
	if err != nil {
		return err
	}
	p.byHref, p.byCRM = map[string]*store.PIMItem{}, map[int64]*store.PIMItem{}
	for i := range items {
		it := &items[i]
		if it.Href != "" {
			p.byHref[it.Href] = it
		}
		if it.CRMID != 0 {
			p.byCRM[it.CRMID] = it
		}
	}
	if k, ok := p.remote.(pim.CategoryKeeper); ok {
		if err := k.KeepCategories(ctx, pim.FixedCategories); err != nil {
			return err
		}
	}
	ch, err := p.remote.Changes(ctx, p.coll.SyncToken)
	if errors.Is(err, connerr.ErrGone) {
		// The collection is gone (or moved): drop its cursor, so the next
		// attempt discovers the account's collections again.
		if cerr := p.port.SetPIMCursor(ctx, p.coll.ID, "", ""); cerr != nil {
			return cerr
		}
		return err
	}
	if errors.Is(err, pim.ErrTokenInvalid) {
		p.event(ctx, "token_reset", fmt.Sprintf("%s: the server no longer knows where the last sync stopped; every item is compared again, nothing is duplicated.", p.coll.DisplayName))
		ch, err = p.remote.Changes(ctx, "")
	}
	if err != nil {
		return err
	}
	if p.records, err = p.side.load(ctx); err != nil {
		return err
	}
	p.handled, p.dated = map[int64]bool{}, map[string]bool{}
	p.indexEmails()

	// What changed on the remote: new items and new ETags.
	var fetch []string
	listed, fetching := map[string]string{}, map[string]bool{} // listed: href → etag
	for _, ref := range ch.Items {
		listed[ref.Href] = ref.ETag
		m := p.byHref[ref.Href]
		if m == nil || m.TombstoneSide == "" && m.ETag != ref.ETag {
			fetch = append(fetch, ref.Href)
			fetching[ref.Href] = true
		}
	}
	// Items left out under another category choice: looked at again.
	for href, m := range p.byHref {
		if m.CRMID == 0 && m.Error == "" && m.TombstoneSide == "" && !fetching[href] &&
			!slices.Equal(decodeBase(m.Base).LeftOutBy, p.choice()) {
			fetch = append(fetch, href)
		}
	}
	deleted := slices.Clone(ch.Deleted)
	if ch.Full {
		for href, m := range p.byHref {
			if _, ok := listed[href]; !ok && m.TombstoneSide == "" && m.CRMID != 0 {
				deleted = append(deleted, href)
			}
		}
	}
	// What changed in the CRM, and the records whose fixed categories
	// alone are not on the server yet (see categoriesOnly).
	var local, catOnly []int64
	for id, r := range p.records {
		m := p.byCRM[id]
		switch {
		case m == nil:
			local = append(local, id)
		case m.TombstoneSide != "":
		case m.Error != "" && m.Href == "":
			// A create the server refused: again once the record changes.
			if !m.CRMUpdatedAt.Equal(r.updatedAt) {
				local = append(local, id)
			}
		case m.Error != "":
			// The server's copy could not be read or written: writing the
			// CRM's over it could lose what the user has there. It waits
			// until the item changes on the server (see itemError).
		case !m.CRMUpdatedAt.Equal(r.updatedAt):
			local = append(local, id)
		case len(r.want) > 0:
			// A contact: its company's name and its fixed categories come
			// from other records (the company, its opportunities), whose
			// changes do not touch the contact's updated_at.
			b := decodeBase(m.Base)
			switch {
			case !b.Fields[pim.FieldCompany].Equal(r.fields[pim.FieldCompany]):
				local = append(local, id)
			case !slices.Equal(b.Fixed, r.want):
				catOnly = append(catOnly, id)
			}
		}
	}
	slices.Sort(local)
	slices.Sort(catOnly)
	p.progress(ctx, 0, int64(len(fetch)+len(local)+len(deleted)))

	for _, href := range deleted {
		if err := p.remoteDeleted(ctx, href); err != nil {
			return err
		}
		p.progress(ctx, 1, 0)
	}
	for batch := range slices.Chunk(fetch, 200) {
		got, bad, missing, err := p.remote.Fetch(ctx, batch)
		if err != nil {
			return err
		}
		for _, b := range bad {
			if err := p.itemError(ctx, b.Href, listed[b.Href], b.Err); err != nil {
				return err
			}
		}
		for _, href := range missing {
			if err := p.remoteDeleted(ctx, href); err != nil {
				return err
			}
		}
		for i := range got {
			if err := p.remoteChanged(ctx, &got[i]); err != nil {
				return err
			}
		}
		if err := p.flushImports(ctx); err != nil {
			return err
		}
		p.progress(ctx, int64(len(batch)), 0)
	}
	for _, id := range local {
		if p.handled[id] {
			continue
		}
		if err := p.localChanged(ctx, p.records[id]); err != nil {
			return err
		}
		p.progress(ctx, 1, 0)
	}
	if err := p.categoriesOnly(ctx, catOnly); err != nil {
		return err
	}
	// Mapped records gone from the CRM (deleted, or out of the user's
	// sight): a tombstone; the remote copy stays.
	for id, m := range p.byCRM {
		if p.records[id] == nil && m.TombstoneSide == "" {
			if err := p.crmMissing(ctx, m); err != nil {
				return err
			}
		}
	}
	p.warningsLeftOut(ctx)
	p.conflictsLeftOut(ctx)
	if ch.Token != "" && ch.Token != p.coll.SyncToken {
		if err := p.port.SetPIMCursor(ctx, p.coll.ID, ch.Token, ""); err != nil {
			return err
		}
	}
	return nil
}

func (p *collectionPass) indexEmails() {
	p.byEmail = map[string][]int64{}
	if p.side.recordType() != pim.RecordContact {
		return
	}
	ids := make([]int64, 0, len(p.records))
	for id := range p.records {
		if p.byCRM[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		for _, e := range p.records[id].emails {
			e = pim.NormalizeEmail(e)
			p.byEmail[e] = append(p.byEmail[e], id)
		}
	}
}

// choice is the account's category choice as a left-out item records it.
func (p *collectionPass) choice() []string {
	c := append(append([]string{"import:"}, p.importCats...), "only:")
	return append(c, p.only...)
}

// inScope reports whether fields pass the account's category choice.
func (p *collectionPass) inScope(f pim.Fields) bool {
	return len(p.only) == 0 || pim.ImportFilter(f[pim.FieldCategories].List, p.only)
}

// remoteDeleted records that the remote item at href is gone. The CRM
// record stays (deletions are never propagated) and is never pushed back.
func (p *collectionPass) remoteDeleted(ctx context.Context, href string) error {
	m := p.byHref[href]
	if m == nil || m.TombstoneSide != "" || m.CRMID == 0 {
		return nil
	}
	p.handled[m.CRMID] = true
	return p.tombstone(ctx, m, pim.SideRemote)
}

func (p *collectionPass) tombstone(ctx context.Context, m *store.PIMItem, side pim.Side) error {
	if pim.OnMissing(side) != pim.ActionTombstone {
		return nil
	}
	now := p.cfg.Now()
	m.TombstoneSide, m.TombstonedAt = string(side), &now
	w, err := p.port.ApplyPIMWrite(ctx, store.PIMWrite{Item: m})
	if err != nil {
		return err
	}
	*m = *w.Item
	p.stats.Tombstoned++
	return nil
}

// itemError records an item that cannot be synced; it is skipped until
// its ETag changes.
func (p *collectionPass) itemError(ctx context.Context, href, etag string, cause error) error {
	p.stats.Failed++
	m := p.byHref[href]
	if m == nil {
		m = &store.PIMItem{AccountID: p.coll.AccountID, CollectionID: p.coll.ID, RecordType: p.side.recordType(), Href: href}
	}
	m.ETag, m.Error = etag, cause.Error()
	w, err := p.port.ApplyPIMWrite(ctx, store.PIMWrite{Item: m})
	if err != nil {
		return err
	}
	p.byHref[href] = w.Item
	p.cfg.Logger.LogAttrs(ctx, 0, "pim item skipped", slog.String("href", href), slog.String("err", cause.Error()))
	return nil
}

// remoteChanged handles a new or changed remote item.
func (p *collectionPass) remoteChanged(ctx context.Context, it *pim.RemoteItem) error {
	m := p.byHref[it.Href]
	if m != nil && m.TombstoneSide != "" {
		return nil // pim.ActionIgnore
	}
	if m == nil || m.CRMID == 0 {
		// Unmapped here: an item the engine created in an interrupted pass
		// (its stamp names the record), one the CRM already has (same
		// email), or a new one.
		if id, ok := p.stampID(it.UID); ok && p.records[id] != nil {
			if old := p.byCRM[id]; old != nil {
				if old.TombstoneSide != "" {
					return nil
				}
				if old.Href != "" && old.Href != it.Href {
					// The record is mapped to another item already.
					return p.importNew(ctx, m, it)
				}
				m = old
			}
			p.stats.Linked++
			return p.link(ctx, m, p.records[id], it, nil)
		}
		if rec := p.matchByEmail(it); rec != nil {
			p.stats.Linked++
			return p.link(ctx, m, rec, it, nil)
		}
		return p.importNew(ctx, m, it)
	}
	rec := p.records[m.CRMID]
	if rec == nil {
		return p.crmMissing(ctx, m)
	}
	p.handled[rec.id] = true
	return p.merge(ctx, m, rec, it)
}

// crmMissing handles a mapped record the pass did not find in the owner's
// records: deleted (a tombstone), or only out of their sight (reassigned,
// a manager's team changed): left as it is, to sync again once back.
func (p *collectionPass) crmMissing(ctx context.Context, m *store.PIMItem) error {
	ok, err := p.port.Exists(ctx, p.side.recordType(), m.CRMID)
	if err != nil || ok {
		return err
	}
	return p.tombstone(ctx, m, pim.SideCRM)
}

// stampID reads a CRM id from an idempotency stamp of this record type.
func (p *collectionPass) stampID(uid string) (int64, bool) {
	s, ok := pim.ParseStamp(uid)
	if !ok {
		return 0, false
	}
	prefix := string(p.side.recordType()) + "-"
	if !strings.HasPrefix(s, prefix) {
		return 0, false
	}
	id, err := strconv.ParseInt(s[len(prefix):], 10, 64)
	return id, err == nil && id > 0
}

// matchByEmail finds an unmapped CRM contact sharing an address with a
// new remote contact (first sync: merged, not duplicated). Each CRM
// contact matches one remote item: a duplicate already on the remote side
// comes in as its own contact.
func (p *collectionPass) matchByEmail(it *pim.RemoteItem) *localRecord {
	for _, e := range it.Fields[pim.FieldEmails].List {
		for _, id := range p.byEmail[pim.NormalizeEmail(e)] {
			if p.byCRM[id] == nil && !p.handled[id] {
				return p.records[id]
			}
		}
	}
	return nil
}

// link maps an unmapped remote item to a CRM record and merges them with
// an empty base (fields that differ are conflicts, decided by the policy).
func (p *collectionPass) link(ctx context.Context, m *store.PIMItem, rec *localRecord, it *pim.RemoteItem, base []byte) error {
	if m == nil {
		m = &store.PIMItem{AccountID: p.coll.AccountID, CollectionID: p.coll.ID, RecordType: p.side.recordType()}
	}
	m.CRMID, m.Href, m.UID, m.Error = rec.id, it.Href, it.UID, ""
	m.Base = base
	p.byCRM[rec.id] = m
	p.byHref[it.Href] = m
	p.handled[rec.id] = true
	return p.merge(ctx, m, rec, it)
}

// importNew copies a new remote item into the CRM, if the account imports
// it; otherwise it is remembered (by ETag) and left alone.
func (p *collectionPass) importNew(ctx context.Context, m *store.PIMItem, it *pim.RemoteItem) error {
	if m == nil {
		m = &store.PIMItem{AccountID: p.coll.AccountID, CollectionID: p.coll.ID, RecordType: p.side.recordType()}
	}
	m.Href, m.UID, m.ETag, m.Raw, m.Error = it.Href, it.UID, it.ETag, it.Raw, ""
	all := it.Fields[pim.FieldCategories].List
	if !pim.ImportFilter(all, p.importCats) || !p.inScope(it.Fields) {
		p.stats.Skipped++
		m.CRMID, m.Base = 0, pimBase{LeftOutBy: p.choice(), RemoteCats: all}.encode() // its categories: for the user to choose from
		w, err := p.port.ApplyPIMWrite(ctx, store.PIMWrite{Item: m})
		if err == nil {
			p.byHref[it.Href] = w.Item
		}
		return err
	}
	fields := it.Fields.Clone()
	fields[pim.FieldCategories] = pim.SetOf(pim.ImportedCategories(all, p.importCats)...)
	fields = fields.Normalize()
	m.Base = pimBase{Fields: fields, RemoteCats: all}.encode()
	w, warns, err := p.side.build(ctx, nil, fields, nil, nil)
	if err != nil {
		return p.writeError(ctx, m, it, err)
	}
	w.Item, w.AccountID = m, p.coll.AccountID
	p.imports = append(p.imports, importJob{w: w, it: it, warns: warns})
	return nil
}

// importJob is a new remote item waiting to be stored in the CRM with its
// mapping.
type importJob struct {
	w     store.PIMWrite
	it    *pim.RemoteItem
	warns []crm.Warning // what the CRM's rules cut or dropped
}

// flushImports stores the imports of a fetched batch in one transaction
// (one commit instead of hundreds: a first sync is otherwise bound by the
// database's fsync). When one of them is refused, they are stored one by
// one so that only that one is reported and skipped.
func (p *collectionPass) flushImports(ctx context.Context) error {
	jobs := p.imports
	p.imports = nil
	if len(jobs) == 0 {
		return nil
	}
	ws := make([]store.PIMWrite, len(jobs))
	for i, j := range jobs {
		ws[i] = j.w
	}
	outs, err := p.port.ApplyPIMWrites(ctx, ws)
	var fe *store.FieldError
	switch {
	case err == nil:
		for i, j := range jobs {
			p.imported(ctx, j, outs[i])
		}
		return nil
	case !errors.As(err, &fe):
		return err
	}
	for _, j := range jobs {
		out, err := p.port.ApplyPIMWrite(ctx, j.w)
		if err != nil {
			if err := p.writeError(ctx, j.w.Item, j.it, err); err != nil {
				return err
			}
			continue
		}
		p.imported(ctx, j, out)
	}
	return nil
}

// imported records a record created from a remote item. Its fixed
// categories reach the server after the records (categoriesOnly): its
// base has none yet.
func (p *collectionPass) imported(ctx context.Context, j importJob, out store.PIMWrite) {
	rec := p.side.stored(out)
	p.itemWarnings(ctx, j.it.Href, rec.id, j.warns)
	p.stats.CreatedCRM++
	p.records[rec.id] = rec
	p.byCRM[rec.id], p.byHref[j.it.Href] = out.Item, out.Item
	p.handled[rec.id] = true
	if len(rec.want) > 0 {
		p.backlog++
	}
}

// categoriesOnly writes the fixed categories of records whose fields are
// in sync but whose categories are not on the server yet: contacts just
// imported, or whose opportunities changed. It is the one write a first
// sync would make for every imported contact, and some servers pay dearly
// for each (Radicale spends ~45 ms per PUT in a 5,000-card address book),
// so it never delays the records themselves: it comes after every other
// change, within the account's CategoryBudget per pass, and the rest waits
// for the next pass, which the loop runs at once (p.backlog).
func (p *collectionPass) categoriesOnly(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	deadline := time.Now().Add(p.cfg.CategoryBudget)
	for i, id := range ids {
		if time.Now().After(deadline) {
			p.backlog += len(ids) - i
			return nil
		}
		m, rec := p.byCRM[id], p.records[id]
		if m == nil || rec == nil || m.TombstoneSide != "" || p.handled[id] {
			continue
		}
		p.handled[id] = true
		if err := p.localChanged(ctx, rec); err != nil {
			return err
		}
		p.stats.Categories++
	}
	return nil
}

// writeError turns a CRM write refused for one item's data into an item
// error; anything else (the database, the lease) fails the pass.
func (p *collectionPass) writeError(ctx context.Context, m *store.PIMItem, it *pim.RemoteItem, err error) error {
	var fe *store.FieldError
	if errors.As(err, &fe) {
		return p.itemError(ctx, it.Href, it.ETag, fmt.Errorf("%s: %s", fe.Field, fe.Message))
	}
	return err
}

// localChanged handles a CRM record that is new or changed since its base.
func (p *collectionPass) localChanged(ctx context.Context, rec *localRecord) error {
	m := p.byCRM[rec.id]
	if m == nil || m.Href == "" && m.TombstoneSide == "" {
		if !p.inScope(rec.fields) {
			return nil
		}
		return p.createRemote(ctx, rec)
	}
	if m.TombstoneSide != "" {
		return nil
	}
	base := decodeBase(m.Base)
	// The remote item has not changed since the base: it is the base,
	// with the categories it carried.
	remote := &pim.RemoteItem{Href: m.Href, ETag: m.ETag, UID: m.UID, Raw: m.Raw, Fields: base.Fields.Clone()}
	remote.Fields[pim.FieldCategories] = pim.SetOf(base.RemoteCats...)
	return p.merge(ctx, m, rec, remote)
}

// createRemote copies a new CRM record to the remote with its stamp.
func (p *collectionPass) createRemote(ctx context.Context, rec *localRecord) error {
	uid := pim.StampUID(string(p.side.recordType()) + "-" + strconv.FormatInt(rec.id, 10))
	out := rec.fields.Clone()
	cats, _ := pim.RestoreFixed(rec.fields[pim.FieldCategories].List, rec.want)
	out[pim.FieldCategories] = pim.SetOf(cats...)
	if why := p.unwritable(out); why != "" {
		// Never written: crmsync puts no rule on a server that it refuses
		// from a user (the record came in before the rule was refused).
		return p.recordLocalError(ctx, rec, fmt.Errorf("not written to the server: %s", why))
	}
	written, err := p.remote.Create(ctx, uid, out)
	if errors.Is(err, pim.ErrExists) && written.Href != "" {
		// A create retried after an interruption: the item is there
		// already. Link it.
		got, _, _, ferr := p.remote.Fetch(ctx, []string{written.Href})
		if ferr != nil {
			return ferr
		}
		if len(got) == 1 {
			// The engine wrote that item: its content is the base, so
			// only what changed on either side since is merged.
			p.stats.Linked++
			seen := got[0].Fields.Clone()
			seen[pim.FieldCategories] = pim.SetOf(pim.ImportedCategories(got[0].Fields[pim.FieldCategories].List, p.importCats)...)
			base := pimBase{Fields: seen.Normalize(), RemoteCats: got[0].Fields[pim.FieldCategories].List}
			return p.link(ctx, p.byHref[written.Href], rec, &got[0], base.encode())
		}
		return p.recordLocalError(ctx, rec, err)
	}
	m := p.byCRM[rec.id] // a create refused before, or nil
	if m == nil {
		m = &store.PIMItem{AccountID: p.coll.AccountID, CollectionID: p.coll.ID, RecordType: p.side.recordType(), CRMID: rec.id}
	}
	if err != nil {
		if !isItemFault(err) {
			return err
		}
		// Refused: recorded on a mapping without an href, so it is shown
		// and not tried again until the record changes.
		p.stats.Failed++
		m.UID, m.Error, m.CRMUpdatedAt = uid, err.Error(), rec.updatedAt
		return p.saveItem(ctx, m)
	}
	m.Href, m.UID, m.ETag, m.Raw, m.CRMUpdatedAt, m.Error = written.Href, uid, written.ETag, written.Raw, rec.updatedAt, ""
	m.Base = pimBase{Fields: rec.fields, Fixed: rec.want, RemoteCats: cats}.encode()
	w, err := p.port.ApplyPIMWrite(ctx, store.PIMWrite{Item: m})
	if err != nil {
		return err
	}
	p.stats.CreatedRemote++
	p.byCRM[rec.id], p.byHref[written.Href] = w.Item, w.Item
	return nil
}

// isItemFault reports whether a remote write failed because of this
// item's content (the server refused it) rather than the connection.
func isItemFault(err error) bool { return errors.Is(err, pim.ErrRefused) }

func (p *collectionPass) recordLocalError(ctx context.Context, rec *localRecord, cause error) error {
	p.stats.Failed++
	p.itemErrors = append(p.itemErrors, fmt.Sprintf("%s %d: %v", p.side.recordType(), rec.id, cause))
	return nil
}

// merge brings a mapped record and remote item together (pim.Merge), then
// writes each side that needs it: the CRM record first (so that a value
// newest-wins replaced on the remote is kept even if the pass stops right
// after), then the remote item conditionally, then the new base with the
// remote's ETag.
//
// Between the two writes the CRM is ahead of the base. The CRM write
// therefore stores, with the record, an intermediate base — the remote as
// the merge saw it — and leaves the mapping marked as changed in the CRM
// (store.PIMWrite.Pending): a pass stopped there, or a retry after a 412,
// merges the CRM's side of this merge against what the remote then held,
// so the engine's own CRM write is never taken for a user's edit of the
// fields the remote changed. The CRM's change time stays the user's, not
// the engine's write's.
func (p *collectionPass) merge(ctx context.Context, m *store.PIMItem, rec *localRecord, it *pim.RemoteItem) error {
	crmAt := rec.updatedAt
	var override *pimBase
	for round := 0; ; round++ {
		base := decodeBase(m.Base)
		if override != nil {
			base = *override
		}
		actual := it.Fields[pim.FieldCategories].List
		all := unrenamed(base, actual)
		eff := p.syncedCategories(base)
		remoteFields := it.Fields.Clone()
		if remoteFields == nil {
			remoteFields = pim.Fields{}
		}
		remoteFields[pim.FieldCategories] = pim.SetOf(pim.ImportedCategories(all, eff)...)
		remoteFields = remoteFields.Normalize()
		res := pim.Merge(base.Fields, rec.fields, remoteFields, crmAt, it.Modified, p.policy)
		if len(res.Conflicts) > 0 && p.policy == pim.NewestWins && !p.dated[it.Href] {
			// A conflict newest-wins decides: the server's own date of the
			// item counts too (the later one), since a client may have
			// rewritten it without updating its REV or LAST-MODIFIED.
			p.dated[it.Href] = true
			if mt, ok := p.remote.(pim.ModTimer); ok {
				t, err := mt.ModTime(ctx, it.Href)
				if err != nil {
					p.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "reading an item's date failed", slog.String("href", it.Href), slog.Any("err", err))
				} else if t.After(it.Modified) {
					it.Modified = t
					continue
				}
			}
		}
		cats, _ := pim.RemoteCategories(all, res.Remote[pim.FieldCategories].List, rec.want, eff)
		catsChanged := !pim.Normalize(pim.FieldCategories, pim.SetOf(actual...)).Equal(pim.Normalize(pim.FieldCategories, pim.SetOf(cats...)))
		needRemote := len(res.ToRemote) > 0 || catsChanged
		needCRM := len(res.ToCRM) > 0 || len(res.Replaced) > 0
		newBase := pimBase{Fields: res.Base, Fixed: rec.want, RemoteCats: cats}
		p.stats.Conflicts += len(res.Conflicts)
		// The conflicts go with this round's first write, to the record's
		// history, and once written to the account's.
		conflicts := res.Conflicts

		if needCRM {
			cp := *m
			cp.ETag, cp.Raw, cp.UID, cp.Error = it.ETag, it.Raw, it.UID, ""
			seen := pimBase{Fields: remoteFields, Fixed: base.Fixed, RemoteCats: actual}
			if needRemote {
				cp.Base = seen.encode()
			} else {
				cp.Base = newBase.encode()
			}
			only := map[string]bool{}
			for _, ch := range res.ToCRM {
				only[ch.Field] = true
			}
			nrec, stored, warns, err := writeRecord(ctx, p.side, p.port, rec, res.CRM, only, res.Replaced,
				store.PIMWrite{Item: &cp, Pending: needRemote, AccountID: p.coll.AccountID, Conflicts: conflicts})
			if errors.Is(err, store.ErrStale) {
				// The user changed the record meanwhile: merge again with it.
				if round >= maxRetries {
					return p.recordLocalError(ctx, rec, fmt.Errorf("the record keeps changing while it is synced; it is tried again next time"))
				}
				if rec, err = p.side.get(ctx, rec.id); err != nil || rec == nil {
					return err
				}
				p.records[rec.id], crmAt = rec, rec.updatedAt
				continue
			}
			if err != nil {
				return p.writeError(ctx, m, it, err)
			}
			p.itemWarnings(ctx, it.Href, nrec.id, warns)
			p.conflictEvents(ctx, it.Href, nrec.id, conflicts)
			conflicts = nil
			rec = nrec
			p.records[rec.id] = rec
			*m = *stored
			p.stats.ToCRM++
			if needRemote {
				override = &seen
			}
		}
		if !needRemote {
			if !needCRM {
				// Nothing to write on either side: the new ETag, and the
				// record's time so it is not looked at again.
				m.ETag, m.Raw, m.UID, m.Error = it.ETag, it.Raw, it.UID, ""
				m.Base, m.CRMUpdatedAt = newBase.encode(), rec.updatedAt
				return p.saveConflicts(ctx, m, it.Href, rec.id, conflicts)
			}
			return nil
		}
		out := res.Remote.Clone()
		out[pim.FieldCategories] = pim.SetOf(cats...)
		if why := p.unwritable(out); why != "" {
			// Not written: the server keeps its copy, the mapping the CRM's
			// change time, so it is not tried again until either changes.
			p.itemWarnings(ctx, it.Href, rec.id, []crm.Warning{{Field: "rrule", Message: "the CRM's changes are not written to the server: " + why}})
			m.ETag, m.Raw, m.UID, m.Error = it.ETag, it.Raw, it.UID, ""
			m.CRMUpdatedAt = rec.updatedAt
			return p.saveItem(ctx, m)
		}
		written, err := p.remote.Update(ctx, *it, out)
		switch {
		case errors.Is(err, pim.ErrPrecondition):
			if round >= maxRetries {
				return p.itemError(ctx, it.Href, it.ETag, fmt.Errorf("the item keeps changing on the server while it is synced; it is tried again when it changes"))
			}
			got, bad, missing, ferr := p.remote.Fetch(ctx, []string{it.Href})
			switch {
			case ferr != nil:
				return ferr
			case len(bad) > 0:
				return p.itemError(ctx, it.Href, "", bad[0].Err)
			case len(got) == 0 || len(missing) > 0:
				return p.tombstone(ctx, m, pim.SideRemote)
			}
			it = &got[0]
			delete(p.dated, it.Href) // a new version: date it again if it conflicts
			continue
		case errors.Is(err, pim.ErrGone):
			return p.tombstone(ctx, m, pim.SideRemote)
		case err != nil:
			if isItemFault(err) {
				return p.itemError(ctx, it.Href, it.ETag, err)
			}
			return err
		}
		p.stats.ToRemote++
		m.ETag, m.Raw, m.UID, m.Error = written.ETag, written.Raw, it.UID, ""
		m.Base, m.CRMUpdatedAt = newBase.encode(), rec.updatedAt
		return p.saveConflicts(ctx, m, it.Href, rec.id, conflicts)
	}
}

// syncedCategories is the account's import_categories widened to the
// categories the item already syncs (those of its base): a CRM category
// outside the list that went to the server with the record (or was added
// to it since) is the record's, not one the user chose to leave out, so
// its removal on either side is merged like any other. Empty (all) stays
// empty.
func (p *collectionPass) syncedCategories(base pimBase) []string {
	if len(p.importCats) == 0 {
		return nil
	}
	return append(slices.Clone(p.importCats), base.Fields[pim.FieldCategories].List...)
}

func (p *collectionPass) saveItem(ctx context.Context, m *store.PIMItem) error {
	w, err := p.port.ApplyPIMWrite(ctx, store.PIMWrite{Item: m})
	if err != nil {
		return err
	}
	*m = *w.Item
	return nil
}
