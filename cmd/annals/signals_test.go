//go:build unix

package main

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// TestNotifyContextCountsSignals: the first signal cancels the context,
// the second and third close their channels, in that order. (The kernel
// merges a signal sent while the same one is still pending, so each is
// sent once the previous has been seen.)
func TestNotifyContextCountsSignals(t *testing.T) {
	ctx, stop := notifyContext(context.Background(), syscall.SIGUSR1)
	defer stop()
	sigs := signalsFrom(ctx)
	wait := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s never came", what)
		}
	}
	closed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	raise := func() {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
	}
	raise()
	wait("the cancellation by the first signal", ctx.Done())
	if closed(sigs.second) || closed(sigs.third) {
		t.Fatal("one signal closed the later signals' channels")
	}
	raise()
	wait("the second signal", sigs.second)
	if closed(sigs.third) {
		t.Fatal("the second signal closed the third's channel")
	}
	raise()
	wait("the third signal", sigs.third)
	if s := signalsFrom(context.Background()); s.second != nil || s.third != nil {
		t.Error("a context without signals carries channels")
	}
}
