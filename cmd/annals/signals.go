package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
)

// signals tells serve of the signals after the first: the first cancels
// run's context; a second ends the drain delay; a third stops waiting for
// the requests in flight. Channels of the zero value never close (run
// called without signals, as tests do).
type signals struct {
	second, third <-chan struct{}
}

type signalsKey struct{}

// signalsFrom returns the signals ctx carries.
func signalsFrom(ctx context.Context) signals {
	s, _ := ctx.Value(signalsKey{}).(signals)
	return s
}

// notifyContext is signal.NotifyContext that goes on counting: the
// context it returns is cancelled by the first of sig and carries the
// later ones (signalsFrom). One channel receives them all, so none is
// lost between the first and the next. After the third, the signals are
// let go: a fourth has its default effect (it ends the process). stop
// unregisters and waits for the goroutine that counts; it may be called
// more than once.
func notifyContext(parent context.Context, sig ...os.Signal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	second, third := make(chan struct{}), make(chan struct{})
	ch := make(chan os.Signal, 3)
	signal.Notify(ch, sig...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n := 0
		for range ch {
			switch n++; n {
			case 1:
				cancel()
			case 2:
				close(second)
			case 3:
				close(third)
				signal.Stop(ch)
			}
		}
	}()
	var once sync.Once
	return context.WithValue(ctx, signalsKey{}, signals{second: second, third: third}), func() {
		once.Do(func() {
			signal.Stop(ch)
			close(ch)
			<-done
			cancel()
		})
	}
}
