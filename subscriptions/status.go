package subscriptions

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/annalsdb/annals/projections"
)

// statusCountLimit caps each count of Status, so that it stays cheap
// however long a queue grows.
const statusCountLimit = 10000

// Status is where a subscription stands: its feed, and its queue.
type Status struct {
	// Feed is the status of the projection that queues the
	// subscription's events: its state (a failed feed names the event
	// and the error, and queues nothing more until the subscription is
	// created again), how many events it is behind, and its lag.
	Feed projections.Status
	// Ready, InFlight and Parked count the queued events in each state,
	// each up to 10,000 (Capped says a count reached it).
	Ready, InFlight, Parked int64
	Capped                  bool
}

// Status reports where a subscription stands. Errors: ErrNotFound.
func (s *Service) Status(ctx context.Context, name string) (Status, error) {
	d, err := s.definition(ctx, name)
	if err != nil {
		return Status{}, err
	}
	var st Status
	if st.Feed, err = projections.NewRunner(s.store, s.feed(d)).Status(ctx, d.Feed); err != nil {
		return Status{}, fmt.Errorf("subscriptions: status of %s: %w", name, err)
	}
	for state, n := range map[string]*int64{stateReady: &st.Ready, stateInFlight: &st.InFlight, stateParked: &st.Parked} {
		c, err := s.messages().CountDocuments(ctx, bson.D{{Key: "sub", Value: d.Name}, {Key: "state", Value: state}, {Key: "feed", Value: d.Feed}},
			options.Count().SetLimit(statusCountLimit))
		if err != nil {
			return Status{}, fmt.Errorf("subscriptions: status of %s: %w", name, err)
		}
		*n = c
		st.Capped = st.Capped || c == statusCountLimit
	}
	return st, nil
}
