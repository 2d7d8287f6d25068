package subscriptions

import (
	"context"
	"sync"
	"time"

	"github.com/annalsdb/annals/projections"
)

// Run feeds every subscription's queue until ctx ends: one projection
// runner per subscription (and a pusher for a webhook), started when a
// subscription appears and stopped when it is deleted (here or by another
// process). It returns nil when ctx ends, after every feed has stopped.
func (s *Service) Run(ctx context.Context) error {
	if err := s.ensureSchema(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	refresh := s.Refresh
	if refresh <= 0 {
		refresh = DefaultRefresh
	}
	type feed struct {
		cancel  context.CancelFunc
		done    chan struct{}
		recover *feedRecovery
	}
	feeds := map[string]*feed{} // by feed name
	var wg sync.WaitGroup
	defer func() {
		for _, f := range feeds {
			f.cancel()
		}
		wg.Wait()
	}()
	var trimmed time.Time
	tick := time.NewTicker(refresh)
	defer tick.Stop()
	for {
		changed := s.wait(&s.changed)
		defs, deleted, err := s.listDefinitions(ctx)
		if err != nil && ctx.Err() == nil {
			s.logger().Warn("subscriptions: list", "error", err)
		}
		if err == nil {
			want := map[string]bool{}
			for _, d := range defs {
				want[d.Feed] = true
				if feeds[d.Feed] != nil {
					continue
				}
				r := projections.NewRunner(s.store, s.feed(d))
				r.Logger = s.logger().With("subscription", d.Name)
				r.TracerProvider = s.TracerProvider
				if s.Runner != nil {
					s.Runner(r)
				}
				fctx, cancel := context.WithCancel(ctx)
				f := &feed{cancel: cancel, done: make(chan struct{}), recover: &feedRecovery{runner: r, name: d.Feed}}
				feeds[d.Feed] = f
				var fwg sync.WaitGroup
				fwg.Add(1)
				go func() {
					defer fwg.Done()
					if err := r.Run(fctx); err != nil {
						s.logger().Error("subscriptions: feed stopped", "subscription", d.Name, "error", err)
					}
				}()
				if d.webhook() != nil {
					fwg.Add(1)
					go func() {
						defer fwg.Done()
						s.push(fctx, d)
					}()
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					fwg.Wait()
					close(f.done)
				}()
			}
			for name, f := range feeds {
				if !want[name] {
					f.cancel()
					<-f.done
					delete(feeds, name)
					continue
				}
				f.recover.check(ctx, s, s.now())
			}
			for _, t := range deleted {
				if err := s.dropFeed(ctx, t); err != nil && ctx.Err() == nil {
					s.logger().Warn("subscriptions: drop a deleted subscription", "subscription", t.Of, "error", err)
				}
			}
		}
		if time.Since(trimmed) > time.Minute {
			trimmed = time.Now()
			if err := s.trimWebhookLog(ctx); err != nil && ctx.Err() == nil {
				s.logger().Warn("subscriptions: trim the webhook log", "error", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}
