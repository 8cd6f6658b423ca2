package graphpim_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// BenchmarkFirstSync5000 reads a folder of 5,000 contacts as a first sync
// does: one full delta round, then every contact fetched in the engine's
// batches of 200; contacts made in Outlook ("outlook"), and contacts
// crmsync made ("stamped": a fixed category, a stamp to read). It reports
// the HTTP requests sent and the requests Graph counts against the
// mailbox (each part of a batch is one).
func BenchmarkFirstSync5000(b *testing.B) {
	for _, stamped := range []bool{false, true} {
		name := "outlook"
		if stamped {
			name = "stamped"
		}
		b.Run(name, func(b *testing.B) {
			g := graphfake.NewGraph()
			for i := range 5000 {
				props := map[string]any{"givenName": fmt.Sprint("n", i), "surname": "Doe",
					"emailAddresses": []map[string]string{{"address": fmt.Sprintf("n%d@example.com", i)}},
					"businessPhones": []string{"+1 202 555 0100"}, "companyName": "Acme", "jobTitle": "Buyer"}
				if stamped {
					props["categories"] = []string{pim.CategoryPerson}
					props["singleValueExtendedProperties"] = []map[string]string{{"id": graphpim.StampProperty, "value": pim.StampUID(fmt.Sprint("contact-", i))}}
				}
				g.AddContact("", props)
			}
			c, cnt := open(b, g)
			r := graphpim.NewContacts(c, g.DefaultContactFolder())
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				start, graphStart := cnt.n.Load(), g.Stats().Requests
				ch, err := r.Changes(ctx, "")
				if err != nil {
					b.Fatal(err)
				}
				var ids []string
				for _, ref := range ch.Items {
					ids = append(ids, ref.Href)
				}
				n := 0
				for chunk := range slices.Chunk(ids, 200) {
					items, bad, missing, err := r.Fetch(ctx, chunk)
					if err != nil || len(bad)+len(missing) > 0 {
						b.Fatal(err, bad, missing)
					}
					for _, it := range items {
						if _, ok := pim.ParseStamp(it.UID); ok != stamped {
							b.Fatalf("uid %q", it.UID)
						}
					}
					n += len(items)
				}
				if n != 5000 {
					b.Fatalf("%d contacts read", n)
				}
				b.ReportMetric(float64(cnt.n.Load()-start), "http-requests/sync")
				b.ReportMetric(float64(g.Stats().Requests-graphStart), "graph-requests/sync")
			}
		})
	}
}

// BenchmarkEngineFirstSync5000 is the engine's first sync of a folder of
// 5,000 contacts into an empty CRM, passes until no backlog is left: the
// reads above, the master categories, and one PATCH per contact for its
// fixed categories (the engine writes them after the import, within its
// category budget per pass).
func BenchmarkEngineFirstSync5000(b *testing.B) {
	for range b.N {
		b.StopTimer()
		e := newEnvTB(b)
		for i := range 5000 {
			e.g.AddContact("", map[string]any{"givenName": fmt.Sprint("n", i), "surname": "Doe",
				"emailAddresses": []map[string]string{{"address": fmt.Sprintf("n%d@example.com", i)}}})
		}
		before, graphBefore := e.cnt.n.Load(), e.g.Stats().Requests
		b.StartTimer()
		passes := 0
		for {
			passes++
			res, err := e.TryPass()
			if err != nil {
				b.Fatal(err)
			}
			if res.Backlog == 0 {
				break
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(e.cnt.n.Load()-before), "http-requests/sync")
		b.ReportMetric(float64(e.g.Stats().Requests-graphBefore), "graph-requests/sync")
		b.ReportMetric(float64(passes), "passes/sync")
	}
}
