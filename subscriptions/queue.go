package subscriptions

import (
	"context"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

// Both queues, subscription_messages and the outbox, keep a message in
// one of three states (ready, in flight, parked) and move it between them
// with the updates below.

// bookkeepingTimeout bounds the store writes that record what a delivery
// pass did (acks, refusals, put-backs, logs): they must not be lost when
// the pass's ctx ends because the service stops, nor keep a stopping
// service waiting on a store that does not answer.
const bookkeepingTimeout = 5 * time.Second

// bookkeeping returns the context of those writes: ctx's values without
// its cancellation, ending after bookkeepingTimeout.
func bookkeeping(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), bookkeepingTimeout)
}

// idIn matches the messages with the given ids.
func idIn(ids bson.A) bson.D {
	return bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
}

// takeUpdate puts messages in flight with consumer until deadline and
// counts the delivery.
func takeUpdate(consumer string, deadline time.Time) bson.D {
	return bson.D{
		{Key: "$set", Value: bson.D{{Key: "state", Value: stateInFlight}, {Key: "consumer", Value: consumer}, {Key: "deadline", Value: deadline}}},
		{Key: "$inc", Value: bson.D{{Key: "attempts", Value: 1}}},
	}
}

// releaseUpdate puts messages held but never tried back in the queue,
// due at now, their delivery not counted.
func releaseUpdate(now time.Time) bson.D {
	return bson.D{
		{Key: "$set", Value: bson.D{{Key: "state", Value: stateReady}, {Key: "consumer", Value: ""}, {Key: "visible_at", Value: now}}},
		{Key: "$inc", Value: bson.D{{Key: "attempts", Value: -1}}},
	}
}

// parkUpdate sets messages aside until replayed.
func parkUpdate(reason string) bson.D {
	return bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: stateParked}, {Key: "consumer", Value: ""}, {Key: "reason", Value: reason}}}}
}

// refuseUpdate is what becomes of a message refused after its attempts-th
// delivery: back in the queue after a jittered backoff while retry is
// asked for and attempts remain, parked otherwise.
func refuseUpdate(st Settings, attempts int, retry bool, reason string, now time.Time) bson.D {
	if !retry || attempts >= st.MaxAttempts {
		return parkUpdate(reason)
	}
	return bson.D{{Key: "$set", Value: bson.D{
		{Key: "state", Value: stateReady}, {Key: "consumer", Value: ""}, {Key: "reason", Value: reason},
		{Key: "visible_at", Value: now.Add(jitter(st.backoff(attempts), rand.N[time.Duration]))},
	}}}
}
