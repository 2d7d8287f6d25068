// Package subscriptions gives services outside the process persistent
// subscriptions to the event store: consumer groups that the store
// remembers, with acknowledgements, redelivery and parking.
//
// A Subscription has a name, a filter (event names, aggregate types), a
// start (the beginning, now, or after a position) and delivery Settings.
// Consumers of one subscription compete: each event goes to one consumer
// at a time, and the events of one stream go out in version order, the next
// only once the previous one is acknowledged (or parked). A consumer Acks
// what it handled or Nacks it (retry after a backoff, or park it now).
// An event not acknowledged within the ack timeout is delivered again; after
// MaxAttempts deliveries it is parked. Parked events can be listed and
// replayed.
//
//	svc := subscriptions.New(store)
//	go svc.Run(ctx) // feeds every subscription from the events collection
//	_, err := svc.Create(ctx, subscriptions.Subscription{Name: "billing", Events: []string{"OrderPlaced"}})
//	batch, err := svc.Fetch(ctx, "billing", "worker-1", 10, 5*time.Second)
//	for _, d := range batch {
//		// handle d.Event, then
//		err = svc.Ack(ctx, "billing", "worker-1", d.Event.ID)
//	}
//
// # Delivery guarantees
//
// Delivery is at least once, with the event id as the idempotency key. A
// subscription is fed by a projection (package projections) whose handler
// queues each matching event in the subscription_messages collection, in
// the same transaction as the projection's checkpoint: an event is queued
// exactly once, and a crash or restart loses nothing. The queue, the
// in-flight state and the attempts live in the same database as the
// events, so a restarted server delivers again what was not acknowledged.
// Fetch takes messages in a transaction, so two consumers never hold the
// same event, and an acknowledgement from a consumer that no longer holds
// the event (its ack timeout passed and the event went to another) is
// refused with ErrNotHeld.
//
// A feed that fails (its queue write refused: a full disk, a broken
// index) shows in Status as a failed projection; Run retries it from its
// checkpoint after a second, then after waits that double up to a
// minute, so a subscription resumes by itself once the cause is gone.
//
// Deleting a subscription drops its queue; creating one of the same name
// again starts from its own start.
//
// # Webhooks
//
// A subscription with a Webhook has no consumers: Run pushes each event to
// its URL as a signed JSON POST (Standard Webhooks: webhook-id,
// webhook-timestamp, webhook-signature), a stream's events in order,
// retrying with exponential backoff and jitter until MaxAttempts, then
// parking. A request ends by its event's ack deadline, so the
// subscription's ack timeout must be longer than the webhook's request
// timeout. Every attempt is in WebhookLog. URLs must be http(s) and may not
// reach loopback, link-local or private addresses unless the Service
// allows them (checked at Create and when connecting).
//
// # Outbox
//
// A projection handler that must cause a side effect (send an email, call
// a payment API) enqueues an OutboxMessage with its own ctx:
//
//	err := subscriptions.Enqueue(ctx, store, subscriptions.OutboxMessage{
//		ID: ev.ID, Topic: "email", Payload: bson.M{"to": customer.Email}})
//
// The message is queued in the handler's batch transaction: it exists if
// and only if the read-model writes commit. A Dispatcher delivers queued
// messages at least once to the handler (or webhook) registered for their
// topic, with the message id as the idempotency key, and retries and
// parks as subscriptions do; a message whose delivery a crash cut off
// goes out again after its ack timeout. A delivery ends by its message's
// deadline (a handler must return when its ctx ends), so that no two
// dispatchers deliver a message at once.
package subscriptions
