package projections_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/annalsdb/annals/internal/engine"
	"github.com/annalsdb/annals/internal/roundtrip"
	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// depositCounts counts deposits per stream, in the form asked for: one
// upsert per event through Tx (per-event), or the same upserts queued and
// sent as one bulk write (batch).
func depositCounts(batch bool) *projections.Projection {
	upsert := func(ev mongostore.Event) (bson.D, bson.D) {
		return bson.D{{Key: "_id", Value: ev.Stream.String()}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}
	}
	if batch {
		return projections.NewBatch("deposits", []string{"Deposited"}, func(ctx context.Context, w *projections.Writes, events []mongostore.Event) error {
			for _, ev := range events {
				f, u := upsert(ev)
				w.Queue(ev, "", mongo.NewUpdateOneModel().SetFilter(f).SetUpdate(u).SetUpsert(true))
			}
			return nil
		})
	}
	return projections.New("deposits", []string{"Deposited"}, func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
		f, u := upsert(ev)
		_, err := tx.Collection().UpdateOne(ctx, f, u, options.Update().SetUpsert(true))
		return err
	})
}

// TestRoundTripsPerBatch counts, with internal/roundtrip, what a
// projection batch costs MongoDB: a catch-up batch of 200 events (the
// scan's find included) and a live batch, in both handler forms. The
// counts model MongoDB's round trips on the embedded engine, except that
// a live batch on MongoDB also costs the change stream's getMore, which
// the embedded engine's in-memory stream does not (see package
// roundtrip): one more per live batch.
func TestRoundTripsPerBatch(t *testing.T) {
	for _, form := range []struct {
		name              string
		batch             bool
		maxCatchUp, maxLv int64
	}{
		{"per-event", false, 210, 205},
		{"batch", true, 10, 4},
	} {
		t.Run(form.name, func(t *testing.T) {
			ctx := t.Context()
			eng, err := engine.Open(ctx, engine.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { eng.Close() })
			client := roundtrip.Wrap(eng.Client())
			store, err := mongostore.New(ctx, client)
			if err != nil {
				t.Fatal(err)
			}
			streams := make([]uuid.UUID, 10)
			for i := range streams {
				streams[i] = uuid.New()
				evs := make([]mongostore.EventData, 100)
				for j := range evs {
					evs[j] = mongostore.EventData{Name: "Deposited"}
				}
				if _, err := store.Append(ctx, streams[i], mongostore.NoStream, evs...); err != nil {
					t.Fatal(err)
				}
			}
			r := fast(projections.NewRunner(store, depositCounts(form.batch)))
			r.BatchSize = 200
			r.LeaseTTL = projections.DefaultLeaseTTL // no lease renewals inside the counts
			var mu sync.Mutex
			var catchUp []int64 // client count after each catch-up commit
			var live [][2]int64 // client count before and after each live batch
			projections.SetHook(r, func(_ context.Context, point int, _, state string) error {
				mu.Lock()
				defer mu.Unlock()
				n := client.Count()
				switch {
				case point == projections.HookAfterCommit && state == projections.StateCatchingUp:
					catchUp = append(catchUp, n)
				case point == projections.HookBeforeBatch && state == projections.StateLive:
					live = append(live, [2]int64{n, -1})
				case point == projections.HookAfterCommit && state == projections.StateLive:
					live[len(live)-1][1] = n
				}
				return nil
			})
			// Status polls go through an uncounted store of the same engine.
			plain, err := mongostore.New(ctx, eng.Client())
			if err != nil {
				t.Fatal(err)
			}
			observer := projections.NewRunner(plain, depositCounts(form.batch))
			start(t, r)
			waitLive(t, observer, "deposits")
			// A live batch: ten events on each known stream, appended at once.
			var appends []mongostore.StreamAppend
			for _, s := range streams {
				evs := make([]mongostore.EventData, 10)
				for j := range evs {
					evs[j] = mongostore.EventData{Name: "Deposited"}
				}
				appends = append(appends, mongostore.StreamAppend{Stream: s, Expected: mongostore.Exact(100), Events: evs})
			}
			if _, err := store.AppendStreams(ctx, appends...); err != nil {
				t.Fatal(err)
			}
			st := waitLive(t, observer, "deposits")
			if st.Applied != 1100 {
				t.Fatalf("applied %d, want 1100", st.Applied)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(catchUp) != 5 {
				t.Fatalf("%d catch-up batches committed, want 5 of 200", len(catchUp))
			}
			var perBatch []int64
			for i := 1; i < len(catchUp); i++ {
				perBatch = append(perBatch, catchUp[i]-catchUp[i-1])
			}
			var perLive []int64
			for _, l := range live {
				if l[1] >= 0 {
					perLive = append(perLive, l[1]-l[0])
				}
			}
			t.Logf("%s: round trips per 200-event catch-up batch %v; per live batch %v (+1 getMore each on MongoDB)", form.name, perBatch, perLive)
			if m := slices.Max(perBatch); m > form.maxCatchUp {
				t.Errorf("a catch-up batch cost %d round trips, want at most %d", m, form.maxCatchUp)
			}
			if len(perLive) == 0 {
				t.Fatal("no live batch was committed")
			}
			if m := slices.Max(perLive); m > form.maxLv {
				t.Errorf("a live batch cost %d round trips, want at most %d", m, form.maxLv)
			}
		})
	}
}
