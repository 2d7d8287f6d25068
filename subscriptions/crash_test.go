package subscriptions

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/annalsdb/annals/mongostore"
)

// The crash test runs the test binary again as a child that serves a
// subscription (feeding it, consuming and acknowledging) while it appends,
// and kills it with SIGKILL at random moments. The child writes down, with
// an fsync, each event it appended (once the append returned) and each it
// handled (before acknowledging it). Across the kills and a last clean run,
// every appended event must be handled at least once, and the queue must
// end empty.

const (
	crashChildEnv = "ANNALS_SUBSCRIPTIONS_CRASH_CHILD"
	crashDirEnv   = "ANNALS_SUBSCRIPTIONS_CRASH_DIR"
	crashDrainEnv = "ANNALS_SUBSCRIPTIONS_CRASH_DRAIN"
)

func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("run by TestCrashDuringDelivery as a child process")
	}
	dir := os.Getenv(crashDirEnv)
	drain := os.Getenv(crashDrainEnv) != ""
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := mongostore.Open(ctx, "file:"+filepath.Join(dir, "annals.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close(context.Background())
	svc := New(store)
	svc.Poll, svc.Refresh = 10*time.Millisecond, 50*time.Millisecond
	if _, err := svc.Create(ctx, Subscription{Name: "s", Settings: Settings{AckTimeout: 300 * time.Millisecond, MaxAttempts: 1000, BatchSize: 5}}); err != nil && !isExists(err) {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	appended := openLog(t, filepath.Join(dir, "appended"))
	handled := openLog(t, filepath.Join(dir, "handled"))
	if !drain {
		go func() {
			streams := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
			for ctx.Err() == nil {
				res, err := store.Append(ctx, streams[rand.IntN(len(streams))], mongostore.Any, mongostore.EventData{Name: "E", Data: map[string]any{"n": 1}})
				if err != nil {
					continue
				}
				appended.write(t, res.IDs[0])
			}
		}()
	}
	idle := 0
	for idle < 20 {
		got, err := svc.Fetch(ctx, "s", "child", 0, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			if drain {
				idle++
			}
			continue
		}
		idle = 0
		for _, d := range got {
			handled.write(t, d.Event.ID)
		}
		if err := svc.Ack(ctx, "s", "child", ids(got)...); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n, err := svc.messages().CountDocuments(context.Background(), map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("queued-left %d\n", n)
}

func isExists(err error) bool { return errorsIs(err, ErrExists) }

type eventLog struct{ f *os.File }

func openLog(t *testing.T, path string) *eventLog {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return &eventLog{f: f}
}

func (l *eventLog) write(t *testing.T, id uuid.UUID) {
	if _, err := l.f.WriteString(id.String() + "\n"); err != nil {
		t.Error(err)
	}
	if err := l.f.Sync(); err != nil {
		t.Error(err)
	}
}

func readLog(t *testing.T, path string) map[uuid.UUID]bool {
	t.Helper()
	out := map[uuid.UUID]bool{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// A line cut by the kill is not an event the child vouched for.
		if id, err := uuid.Parse(sc.Text()); err == nil {
			out[id] = true
		}
	}
	return out
}

func TestCrashDuringDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("child processes")
	}
	dir := t.TempDir()
	rounds := 8
	if v, err := strconv.Atoi(os.Getenv("ANNALS_SUBSCRIPTIONS_CRASH_ROUNDS")); err == nil {
		rounds = v
	}
	child := func(drain bool) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", crashDirEnv+"="+dir)
		if drain {
			cmd.Env = append(cmd.Env, crashDrainEnv+"=1")
		}
		return cmd
	}
	for i := range rounds {
		cmd := child(false)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		t.Logf("round %d: %d appended, %d handled so far", i, len(readLog(t, filepath.Join(dir, "appended"))), len(readLog(t, filepath.Join(dir, "handled"))))
	}
	out, err := child(true).CombinedOutput()
	if err != nil {
		t.Fatalf("draining child: %v\n%s", err, out)
	}
	appended := readLog(t, filepath.Join(dir, "appended"))
	handled := readLog(t, filepath.Join(dir, "handled"))
	if len(appended) == 0 {
		t.Fatal("the children appended nothing")
	}
	lost := 0
	for id := range appended {
		if !handled[id] {
			lost++
		}
	}
	t.Logf("%d rounds killed: %d events appended (acknowledged), %d handled, %d lost", rounds, len(appended), len(handled), lost)
	if lost > 0 {
		t.Errorf("%d acknowledged events were never delivered", lost)
	}
	if !containsLine(out, "queued-left 0") {
		t.Errorf("the queue is not empty after the last run:\n%s", out)
	}
}
