package mongostore_test

import (
	"context"
	"testing"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// Reads inside ConsistentRead see one point in time: an append committed
// between two of them shows in neither. On lungo's own engine, which has
// no snapshot reads, ConsistentRead still runs fn.
func TestConsistentRead(t *testing.T) {
	ctx := t.Context()
	embedded, err := mongostore.Open(ctx, "memory:")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { embedded.Close(ctx) })
	client, eng, err := lungo.Open(ctx, lungo.Options{Store: lungo.NewMemoryStore()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	onLungo, err := mongostore.New(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		store    *mongostore.Store
		snapshot bool
	}{
		{"embedded", embedded, true},
		{"lungo", onLungo, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.store
			stream := uuid.New()
			if _, err := s.Append(ctx, stream, mongostore.NoStream, mongostore.EventData{Name: "Opened"}); err != nil {
				t.Fatal(err)
			}
			var before, after int
			err := s.ConsistentRead(ctx, func(ctx context.Context) error {
				evs, err := s.Load(ctx, stream)
				if err != nil {
					return err
				}
				before = len(evs.Events)
				if _, err := s.Append(context.Background(), stream, mongostore.Exact(1), mongostore.EventData{Name: "Closed"}); err != nil {
					return err
				}
				evs, err = s.Load(ctx, stream)
				after = len(evs.Events)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			want := 2
			if tc.snapshot {
				want = 1
			}
			if before != 1 || after != want {
				t.Errorf("loads in one ConsistentRead: %d then %d events, want 1 then %d", before, after, want)
			}
		})
	}
}
