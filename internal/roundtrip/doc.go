// Package roundtrip counts the operations a client sends to the database
// server, to measure how many round trips an annals operation costs.
//
// Wrap puts a counter around a lungo.IClient. Every database, collection,
// index view, session, cursor and change stream reached through the
// wrapper shares the counter, and every call that would reach a MongoDB
// server counts once, under the name of the method that made it (Find,
// InsertOne, CommitTransaction, ...; prefixed with Client., Database. or
// Indexes. where a collection method has the same name, as in
// Indexes.CreateMany). The counts model what MongoDB would see; they are
// the same whichever engine sits behind the wrapper.
//
//	client := roundtrip.Wrap(inner)
//	store, err := mongostore.New(ctx, client)
//	...
//	client.Reset()
//	_, err = store.Append(ctx, id, mongostore.Exact(3), event)
//	fmt.Println(client.Count(), client.Ops()) // 2 map[FindOne:1 InsertOne:1]
//
// # What counts
//
//   - Commands: finds, writes, findAndModify, aggregations, counts,
//     distinct, index and collection management, listings, Ping,
//     RunCommand, Watch. BulkWrite counts one per command the official
//     driver (v1) would send: one per run of same-kind models when
//     ordered, one per kind when not.
//   - Transactions: Session.WithTransaction delegates to the wrapped
//     session, so the driver's retries keep working, and counts the commit
//     (or, when the callback fails, the abort) of every attempt that sent
//     at least one operation, as the driver only contacts the server for
//     those. Operations made inside the callback count as usual, provided
//     they use the context the callback is given. Explicit
//     CommitTransaction and AbortTransaction calls always count one.
//   - Cursors: a further batch (getMore) counts as GetMore when the
//     cursor can tell one is needed: its server cursor id is not zero and
//     the current batch is used up. Closing a cursor that is still open on
//     the server counts as KillCursors. The embedded engine's cursors and
//     change streams are in memory and always report cursor id 0, so on
//     that engine only the initial command counts; on MongoDB this rule
//     follows the driver's documented cursor behaviour but has not been
//     run against a server here.
//
// # What does not count
//
// StartSession, EndSession, StartTransaction (the driver starts a
// transaction lazily with its first operation), Connect, Disconnect, and
// accessors such as Name or Database. Work the driver does on its own is
// invisible to the wrapper: server monitoring, retried writes and reads,
// retried commits (UnknownTransactionCommitResult), the getMores of
// Cursor.All beyond the first, resumes of change streams, and the split of
// an InsertMany or BulkWrite above 100,000 documents or 48 MB into several
// commands.
//
// The wrapper passes every context through unchanged, apart from adding a
// value inside WithTransaction callbacks, so both engines still find the
// session in it. Sessions it returns are its own type: lungo.WithSession
// does not accept them; use Client.UseSession, or pass Session.Unwrap().
package roundtrip
