package main

import (
	"errors"
	"fmt"

	"github.com/annalsdb/annals/mongostore"
)

// Business-rule errors. Commands return them without writing anything.
var (
	// ErrInsufficientFunds means a withdrawal asked for more than the
	// account holds.
	ErrInsufficientFunds = errors.New("insufficient funds")
	// ErrInvalidAmount means an amount was zero or negative.
	ErrInvalidAmount = errors.New("amount must be positive")
	// ErrSameAccount means a transfer named one account on both sides.
	ErrSameAccount = errors.New("cannot transfer to the same account")
)

// AccountOpened is an account's first event.
type AccountOpened struct {
	Owner string `bson:"owner"`
}

// MoneyDeposited adds Cents to an account. Transfer names the transfer it
// is part of, if any.
type MoneyDeposited struct {
	Cents    int64  `bson:"cents"`
	Transfer string `bson:"transfer,omitempty"`
}

// MoneyWithdrawn takes Cents from an account. Transfer names the transfer
// it is part of, if any.
type MoneyWithdrawn struct {
	Cents    int64  `bson:"cents"`
	Transfer string `bson:"transfer,omitempty"`
}

// accountType is the aggregate type recorded on account streams.
const accountType = "Account"

// newRegistry registers the account events at their current shapes.
func newRegistry() *mongostore.Registry {
	reg := mongostore.NewRegistry()
	mongostore.Register[AccountOpened](reg, "AccountOpened", 1)
	mongostore.Register[MoneyDeposited](reg, "MoneyDeposited", 1)
	mongostore.Register[MoneyWithdrawn](reg, "MoneyWithdrawn", 1)
	return reg
}

// Account is an account's state, rebuilt from its events.
type Account struct {
	Owner   string `bson:"owner"`
	Balance int64  `bson:"balance"`
}

// Apply folds one event into the account.
func (a *Account) Apply(event any) error {
	switch e := event.(type) {
	case AccountOpened:
		a.Owner = e.Owner
	case MoneyDeposited:
		a.Balance += e.Cents
	case MoneyWithdrawn:
		a.Balance -= e.Cents
	default:
		return fmt.Errorf("account: unexpected event %T", event)
	}
	return nil
}

// account is a loaded account, ready to decide.
type account = mongostore.Root[*Account]

// deposit decides a deposit of cents into a.
func deposit(a *account, cents int64, transfer string) error {
	if cents <= 0 {
		return fmt.Errorf("deposit %s: %w", money(cents), ErrInvalidAmount)
	}
	return a.Record(MoneyDeposited{Cents: cents, Transfer: transfer})
}

// withdraw decides a withdrawal of cents from a: refused beyond the
// balance.
func withdraw(a *account, cents int64, transfer string) error {
	if cents <= 0 {
		return fmt.Errorf("withdraw %s: %w", money(cents), ErrInvalidAmount)
	}
	if cents > a.State.Balance {
		return fmt.Errorf("%w: %s holds %s, asked %s", ErrInsufficientFunds, a.State.Owner, money(a.State.Balance), money(cents))
	}
	return a.Record(MoneyWithdrawn{Cents: cents, Transfer: transfer})
}

// money renders cents as units with two decimals.
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}
