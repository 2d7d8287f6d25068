package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/annalsdb/annals/mongostore"
	"github.com/annalsdb/annals/projections"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
)

func TestDemo(t *testing.T) {
	for _, uri := range []string{"memory:", "file:" + filepath.Join(t.TempDir(), "bank.db")} {
		t.Run(uri, func(t *testing.T) {
			ctx := context.Background()
			store := openStore(t, uri)
			var out bytes.Buffer
			ids, err := demo(ctx, store, &out)
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			for _, want := range []string{
				"ana deposits 100.00: ana's balance 100.00 (version 2)",
				"ana withdraws 500.00: refused: insufficient funds: ana holds 70.00, asked 500.00",
				"after the refusal: ana's balance 70.00 (version 3)",
				"transfer 25.00 from ana to bo: refused: insufficient funds: ana holds 20.00, asked 25.00",
				"after the transfers: ana's balance 20.00 (version 4)",
				"after the transfers: bo's balance 70.00 (version 3)",
				"balances read model (projection live, 7 events applied)",
				"ana     20.00 (version 4)",
				"bo      70.00 (version 3)",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
			checkStreams(t, store, ids)
			checkReadModel(t, store, 2)
		})
	}
}

// TestRun runs the command twice on one file, as a user would, and checks
// that the read model still agrees with every account's events.
func TestRun(t *testing.T) {
	uri := "file:" + filepath.Join(t.TempDir(), "bank.db")
	for i := range 2 {
		var out bytes.Buffer
		if err := run(context.Background(), uri, &out); err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out.String())
		}
		if !strings.Contains(out.String(), "store: file engine") {
			t.Errorf("run %d output lacks the engine:\n%s", i+1, out.String())
		}
	}
	checkReadModel(t, openStore(t, uri), 4)
}

// checkStreams checks the demo's accounts event by event: refused
// commands wrote nothing, and the transfer wrote one event to each account
// under one transfer id.
func checkStreams(t *testing.T, store *mongostore.Store, ids accounts) {
	t.Helper()
	ctx := context.Background()
	want := map[uuid.UUID][]string{
		ids.Ana: {"AccountOpened", "MoneyDeposited", "MoneyWithdrawn", "MoneyWithdrawn"},
		ids.Bo:  {"AccountOpened", "MoneyDeposited", "MoneyDeposited"},
	}
	transfers := map[string]int{}
	for id, names := range want {
		s, err := store.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range s.Events {
			got = append(got, e.Name)
			var d struct {
				Transfer string `bson:"transfer"`
			}
			if err := e.Decode(&d); err != nil {
				t.Fatal(err)
			}
			if d.Transfer != "" {
				transfers[d.Transfer]++
			}
		}
		if strings.Join(got, ",") != strings.Join(names, ",") || s.Type != accountType {
			t.Errorf("stream %s: got %v (%s), want %v (%s)", id, got, s.Type, names, accountType)
		}
	}
	if len(transfers) != 1 {
		t.Errorf("got transfers %v, want one transfer on both accounts", transfers)
	}
	for id, n := range transfers {
		if n != 2 {
			t.Errorf("transfer %s has %d events, want 2", id, n)
		}
	}
}

// checkReadModel checks that the balances read model holds n accounts and
// that each agrees with the account rebuilt from its events.
func checkReadModel(t *testing.T, store *mongostore.Store, n int) {
	t.Helper()
	ctx := context.Background()
	bank := NewBank(store)
	coll, err := projections.NewRunner(store, balances(bank.reg)).Collection(ctx, balancesProjection, "")
	if err != nil {
		t.Fatal(err)
	}
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var rows []Balance
	if err := cur.All(ctx, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != n {
		t.Fatalf("read model has %d accounts, want %d", len(rows), n)
	}
	for _, row := range rows {
		a, err := bank.Account(ctx, uuid.MustParse(row.ID))
		if err != nil {
			t.Fatal(err)
		}
		if row.Owner != a.State.Owner || row.Cents != a.State.Balance || row.Version != a.Version {
			t.Errorf("read model %+v, aggregate %+v at version %d", row, *a.State, a.Version)
		}
	}
}

func openStore(t *testing.T, uri string) *mongostore.Store {
	t.Helper()
	store, err := mongostore.Open(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close(context.Background()) })
	return store
}
