package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/annalsdb/annals/mongostore"
	"github.com/google/uuid"
)

// maxTransferAttempts bounds how often a transfer that keeps losing races
// to other writers of its two accounts starts again.
const maxTransferAttempts = 5

// Bank runs the account commands against a store.
type Bank struct {
	reg      *mongostore.Registry
	accounts *mongostore.Repository[*Account]
}

// NewBank returns a bank over store.
func NewBank(store *mongostore.Store) *Bank {
	reg := newRegistry()
	return &Bank{reg: reg, accounts: mongostore.NewRepository(store, reg, accountType, func() *Account { return &Account{} })}
}

// Open opens an account for owner and returns its id.
func (b *Bank) Open(ctx context.Context, owner string) (uuid.UUID, error) {
	id := uuid.New()
	err := b.accounts.Create(ctx, id, func(a *account) error { return a.Record(AccountOpened{Owner: owner}) })
	if err != nil {
		return uuid.Nil, fmt.Errorf("open account for %s: %w", owner, err)
	}
	return id, nil
}

// Deposit puts cents into an account. Errors: ErrInvalidAmount,
// mongostore.ErrStreamNotFound, the store's.
func (b *Bank) Deposit(ctx context.Context, id uuid.UUID, cents int64) error {
	return b.accounts.Update(ctx, id, func(a *account) error { return deposit(a, cents, "") })
}

// Withdraw takes cents from an account. A withdrawal beyond the balance
// writes nothing and returns ErrInsufficientFunds.
func (b *Bank) Withdraw(ctx context.Context, id uuid.UUID, cents int64) error {
	return b.accounts.Update(ctx, id, func(a *account) error { return withdraw(a, cents, "") })
}

// Transfer moves cents from one account to another: the withdrawal and
// the deposit are saved in one transaction, so both happen or neither
// does. When another writer saved either account first, it starts again
// from a fresh load. Errors: the business-rule errors, which write
// nothing, or the store's.
func (b *Bank) Transfer(ctx context.Context, from, to uuid.UUID, cents int64) error {
	if from == to {
		return ErrSameAccount
	}
	transfer := uuid.NewString()
	var err error
	for range maxTransferAttempts {
		if err = b.transferOnce(ctx, from, to, cents, transfer); !errors.Is(err, mongostore.ErrConcurrency) {
			return err
		}
	}
	return err
}

func (b *Bank) transferOnce(ctx context.Context, from, to uuid.UUID, cents int64, transfer string) error {
	src, err := b.accounts.Load(ctx, from)
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	dst, err := b.accounts.Load(ctx, to)
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	if err := withdraw(src, cents, transfer); err != nil {
		return err
	}
	if err := deposit(dst, cents, transfer); err != nil {
		return err
	}
	return b.accounts.SaveAll(ctx, src, dst)
}

// Account loads an account as its events say it is now.
func (b *Bank) Account(ctx context.Context, id uuid.UUID) (*account, error) {
	return b.accounts.Load(ctx, id)
}
