// Package projections keeps query collections (read models) current from
// the events collection, exactly once, with MongoDB change streams.
//
// A projection has a name, the event names it handles and a handler that
// writes to its query collections through the transaction the runner gives
// it:
//
//	accounts := projections.New("accounts", []string{"AccountOpened", "Deposited", "Withdrawn"},
//		func(ctx context.Context, tx *projections.Tx, ev mongostore.Event) error {
//			var d struct{ Amount int64 }
//			if err := ev.Decode(&d); err != nil {
//				return err
//			}
//			_, err := tx.Collection().UpdateOne(ctx, bson.M{"_id": ev.Stream.String()},
//				bson.M{"$inc": bson.M{"balance": d.Amount}}, options.Update().SetUpsert(true))
//			return err
//		})
//	runner := projections.NewRunner(store, accounts, projections.Streams())
//	go runner.Run(ctx)
//	st, err := runner.Status(ctx, "accounts") // state, last applied event, events behind, lag
//
// A projection that must keep up with many events uses the batch form: the
// handler gets a whole batch and queues its writes, which the runner sends
// as one bulk write per collection in the batch's transaction. On MongoDB
// a catch-up batch of 200 events then costs 6 round trips instead of 205,
// and a live batch 5 instead of 4 plus one per event (counted by
// TestRoundTripsPerBatch):
//
//	counts := projections.NewBatch("counts", []string{"Deposited"},
//		func(ctx context.Context, w *projections.Writes, events []mongostore.Event) error {
//			for _, ev := range events {
//				w.Queue(ev, "", mongo.NewUpdateOneModel().SetFilter(bson.M{"_id": ev.Stream.String()}).
//					SetUpdate(bson.M{"$inc": bson.M{"n": 1}}).SetUpsert(true))
//			}
//			return nil
//		})
//
// # Exactly once
//
// Each batch of events is applied in one transaction that also records,
// per aggregate, the last version applied, and the projection's checkpoint
// (change stream resume token and position). A crash at any point leaves
// either all of a batch's effects or none, and the restart resumes from the
// checkpoint. Several runners may run the same projections (several server
// replicas): a lease in the checkpoint decides which one applies a
// projection, and every batch's transaction checks the lease, so two
// runners never both apply an event. A runner that stops renewing its
// lease (its process crashed) holds the projection until the lease
// expires (Runner.LeaseTTL); on file: and memory: stores, which one
// process holds under a lock, the next process takes it over at once.
// Status.WaitingForLease names the owner a runner is waiting for.
//
// # Catch-up, handoff and order
//
// A new projection, a rebuild, or one whose change stream history is gone
// (MongoDB error 286; "unable to resume change stream" on the embedded
// engine) reads history from the events collection in recorded order, then
// opens the change stream and reads again from CatchUpMargin before where
// it stopped, so that events committed around the handoff are not missed;
// the per-aggregate versions make events seen twice no-ops, and versions a
// concurrent scan passed over are read before the events that follow them.
//
// On a MongoDB replica set the change stream starts at the operation time
// of a majority read taken before the second read: every append that
// committed before it is majority-committed and seen by that read, every
// later one is in the stream. Through mongos (a sharded cluster, detected
// by hello's msg "isdbgrid") no single read gives a time that is a
// majority point on every shard, so the stream starts CatchUpMargin before
// the operation time of a majority read through mongos (the cluster's
// time, not the runner's clock, so a runner with a skewed clock starts at
// the same place) and re-delivers that margin's events, which the
// per-aggregate versions skip. The one assumption left is that every shard
// replicates an append to a majority within CatchUpMargin (5 minutes by
// default) and keeps at least CatchUpMargin of oplog; a shard lagging
// longer can make the handoff miss an event, as it would any majority
// reader.
//
// Within a stream, a handler sees events in exact version order, each
// once. Across streams there is no order to rely on: events of different
// aggregates arrive roughly in the order they were recorded, and a handler
// must not depend on one aggregate's event arriving before another's.
//
// # Failure and operations
//
// A handler error stops that projection in StateFailed, naming the event
// and the error (Status.Failure); other projections keep running.
// Transient database errors, and a full disk, are retried with
// exponential backoff, whether the runner or a handler met them; while
// the attempts keep failing, Status.Stalled says so and why (a full disk
// is StallDiskFull), since the recorded state does not change. Retry
// resumes a failed projection from the failed event; Reset drops and
// replays it; Rebuild replays it blue/green, building new collections while
// the current ones keep serving, and switching when the build has caught
// up. Raising Projection.Version rebuilds blue/green with the new logic.
//
// # Tracing
//
// With an OpenTelemetry tracer provider (Runner.TracerProvider, else the
// global one) each batch applied is a span of its own trace named
// "projection.batch <name>" (SpanBatch), linked to the traces the
// batch's events were appended in (see mongostore.MetaTraceparent), at
// most MaxBatchLinks of them; each Handler call is a child span
// "projection.handle <name>" linked to its event's trace, and each
// BatchHandler call one child span "projection.handle_batch <name>". The
// handler's ctx carries its span. Missing or malformed trace metadata
// costs links only, never the batch.
//
// # Read models on the embedded engine
//
// The embedded engine (lungo v0.4.0) cannot update a document whose _id is
// binary (it panics), so key read-model documents by the UUID's string,
// as the built-in projections do.
package projections
