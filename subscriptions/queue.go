package subscriptions

import (
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/bson"
)

// Both queues, subscription_messages and the outbox, keep a message in
// one of three states (ready, in flight, parked) and move it between them
// with the updates below.

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
