package subscriptions

import (
	"context"
	"time"

	"github.com/annalsdb/annals/projections"
)

// A feed's handler only queues messages: it has no poison events of its
// own to stop on. When its projection fails all the same (a full disk, a
// write the store refused), Run puts it back to work from its checkpoint,
// waiting longer after each failure in a row, so that a subscription
// resumes by itself once the cause is gone instead of staying failed until
// someone retries it.

// Bounds of the wait before a failed feed is retried.
const (
	feedRetryMin = time.Second
	feedRetryMax = time.Minute
)

// feedRecovery retries one feed's projection when it has failed.
type feedRecovery struct {
	runner *projections.Runner
	name   string
	// next is when to look again; wait is the current wait after a
	// failure.
	next time.Time
	wait time.Duration
}

// check retries the feed if it has failed and its wait is over.
func (f *feedRecovery) check(ctx context.Context, s *Service, now time.Time) {
	if now.Before(f.next) {
		return
	}
	failed, err := f.runner.Failed(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.logger().Warn("subscriptions: feed status", "feed", f.name, "error", err)
		}
		return
	}
	if len(failed) == 0 {
		f.wait = 0
		return
	}
	if f.wait == 0 {
		f.wait = feedRetryMin
		f.next = now.Add(f.wait)
		return
	}
	if err := f.runner.Retry(ctx, f.name); err != nil {
		if ctx.Err() == nil {
			s.logger().Warn("subscriptions: retry a failed feed", "feed", f.name, "error", err)
		}
	} else {
		s.logger().Warn("subscriptions: a failed feed was put back to work", "feed", f.name, "next_wait", f.wait)
	}
	f.wait = min(2*f.wait, feedRetryMax)
	f.next = now.Add(f.wait)
}
