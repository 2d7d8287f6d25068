package projections

import "context"

// Hook points, for tests in package projections_test.
const (
	HookBeforeBatch   = int(hookBeforeBatch)
	HookBeforeCommit  = int(hookBeforeCommit)
	HookAfterCommit   = int(hookAfterCommit)
	HookBeforeHandoff = int(hookBeforeHandoff)
)

// SetHook makes the runner call fn at each hook point.
func SetHook(r *Runner, fn func(ctx context.Context, point int, projection, state string) error) {
	r.hooks = hooks{fn: func(ctx context.Context, h hook, projection, state string) error {
		return fn(ctx, int(h), projection, state)
	}}
}

// Owner returns the runner's lease owner id.
func Owner(r *Runner) string { return r.owner }

// MajorityTime exposes Runner.majorityTime.
var MajorityTime = (*Runner).majorityTime
