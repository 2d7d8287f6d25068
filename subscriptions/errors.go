package subscriptions

import "errors"

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound means no subscription has that name.
	ErrNotFound = errors.New("subscription not found")
	// ErrExists means Create was given the name of an existing
	// subscription.
	ErrExists = errors.New("subscription already exists")
	// ErrInvalid means a subscription definition or a request was refused
	// before anything was written; the error says what is wrong.
	ErrInvalid = errors.New("invalid subscription request")
	// ErrNotHeld means an Ack or Nack named an event the consumer does not
	// hold: never delivered to it, already acknowledged, or delivered to
	// another consumer after its ack timeout passed.
	ErrNotHeld = errors.New("event not held by this consumer")
)
