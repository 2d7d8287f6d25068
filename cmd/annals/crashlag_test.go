package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/annalsdb/annals/server"
	"github.com/google/uuid"
)

// projectionsState is what the crash-restart test reads of
// GET /v1/projections.
type projectionsState struct {
	Projections []struct {
		Name            string     `json:"name"`
		State           string     `json:"state"`
		Behind          int64      `json:"behind"`
		HistoryLost     int64      `json:"history_lost"`
		Owner           string     `json:"owner"`
		LeaseUntil      *time.Time `json:"lease_until"`
		WaitingForLease *struct {
			Owner string `json:"owner"`
		} `json:"waiting_for_lease"`
	} `json:"projections"`
}

// appendN appends n events to a new stream over HTTP.
func appendN(t *testing.T, base string, n int) {
	t.Helper()
	stream := uuid.NewString()
	for i := range n {
		body := fmt.Sprintf(`{"aggregate_type":"Counter","events":[{"name":"Incremented","data":{"i":%d}}]}`, i)
		resp, err := http.Post(base+"/v1/streams/"+stream+"/events", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("append: status %d", resp.StatusCode)
		}
	}
}

// caughtUp reports whether every projection is live with nothing behind
// and event_counts counts want events.
func caughtUp(t *testing.T, base string, want int64) (bool, projectionsState) {
	t.Helper()
	var st projectionsState
	getJSON(t, base+"/v1/projections", &st)
	for _, p := range st.Projections {
		if p.State != "live" || p.Behind != 0 || p.WaitingForLease != nil {
			return false, st
		}
	}
	var counts struct {
		Documents []struct {
			Count int64 `json:"count"`
		} `json:"documents"`
	}
	getJSON(t, base+"/v1/projections/event_counts/documents", &counts)
	return len(counts.Documents) == 1 && counts.Documents[0].Count == want, st
}

// TestProjectionLagAfterSIGKILL kills a serving process with SIGKILL while
// its projections hold their leases, restarts it on the same file: store
// and appends at once: the projections must take the dead process's
// leases over at once (the store's lock proves that process gone). Both
// processes run with a lease of an hour, so waiting for the dead leases
// to expire would time the test out: it requires the catch-up within
// catchUpBound, which does not measure speed but tells a take-over from
// a wait, and that the restarted process never reports waiting for a
// lease. It logs the lag from the restart to caught up.
func TestProjectionLagAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	const (
		lease        = time.Hour
		catchUpBound = 2 * time.Minute // far below lease
	)
	bin := buildBinary(t)
	store := "file:" + filepath.Join(t.TempDir(), "annals.db")
	p := startServe(t, bin, "--store", store, "--lease-ttl", lease.String())
	appendN(t, p.base, 20)
	var before projectionsState
	for deadline := time.Now().Add(30 * time.Second); ; {
		ok, st := caughtUp(t, p.base, 20)
		if ok {
			before = st
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projections did not catch up before the crash: %+v", st)
		}
		time.Sleep(10 * time.Millisecond) // polling the API, not synchronising goroutines
	}
	var deadLease time.Time
	for _, pr := range before.Projections {
		if pr.Owner == "" || pr.LeaseUntil == nil {
			t.Fatalf("projection %s shows no owner and lease before the crash: %+v", pr.Name, pr)
		}
		if deadLease.IsZero() || pr.LeaseUntil.Before(deadLease) {
			deadLease = *pr.LeaseUntil
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()

	restart := time.Now()
	p2 := startServe(t, bin, "--store", store, "--lease-ttl", lease.String())
	listening := time.Since(restart)
	appendN(t, p2.base, 30)
	var after projectionsState
	for {
		ok, st := caughtUp(t, p2.base, 50)
		for _, pr := range st.Projections {
			if pr.WaitingForLease != nil {
				t.Fatalf("after the restart, projection %s waits for the dead process's lease (owner %s): it was not taken over",
					pr.Name, pr.WaitingForLease.Owner)
			}
		}
		if ok {
			after = st
			break
		}
		if time.Since(restart) > catchUpBound {
			t.Fatalf("projections did not catch up within %s of the restart (their dead leases run %s): %+v", catchUpBound, lease, st)
		}
		time.Sleep(10 * time.Millisecond) // polling the API, not synchronising goroutines
	}
	live := time.Now()
	t.Logf("after SIGKILL: listening %s after the restart, projections live and caught up %s after it; the dead leases ran %s past the restart",
		listening.Round(time.Millisecond), live.Sub(restart).Round(time.Millisecond), deadLease.Sub(restart).Round(time.Millisecond))
	if !live.Before(deadLease) {
		t.Errorf("the projections caught up only at %s, after the dead process's leases expired (%s): they waited them out",
			live.Format(time.RFC3339Nano), deadLease.Format(time.RFC3339Nano))
	}
	for _, pr := range after.Projections {
		// The change streams resumed from their tokens across the restart
		// (what doctor says of file: stores), with no catch-up fallback.
		if pr.HistoryLost != 0 {
			t.Errorf("projection %s lost its change stream history across the restart (%d times)", pr.Name, pr.HistoryLost)
		}
		if pr.Owner == before.Projections[0].Owner {
			t.Errorf("projection %s is still owned by the killed process %s", pr.Name, pr.Owner)
		}
	}
}

// TestStatusShowsLeaseWait: `projections status` and `list` say when the
// runner waits for another owner's lease, and whose.
func TestStatusShowsLeaseWait(t *testing.T) {
	until := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	v := projectionView{Name: "streams", State: "live", Owner: "host/1/dead",
		WaitingForLease: &server.LeaseWaitView{Owner: "host/1/dead", Until: until, Since: until.Add(-10 * time.Second)}}
	var status, list strings.Builder
	printStatus(&status, v)
	if err := printProjections(&list, []projectionView{v}); err != nil {
		t.Fatal(err)
	}
	if want := "for the lease of host/1/dead"; !strings.Contains(status.String(), want) || !strings.Contains(status.String(), "2026-01-02T03:04:05") {
		t.Errorf("status lacks %q and the expiry:\n%s", want, status.String())
	}
	if want := "live (waiting for another owner's lease)"; !strings.Contains(list.String(), want) {
		t.Errorf("list lacks %q:\n%s", want, list.String())
	}
}
