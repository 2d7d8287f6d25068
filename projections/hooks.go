package projections

import "context"

// hook names the points where tests inject crashes.
type hook int

const (
	hookBeforeBatch   hook = iota // before a batch's transaction starts
	hookBeforeCommit              // inside the transaction, effects and checkpoint written
	hookAfterCommit               // after the transaction committed
	hookBeforeHandoff             // catch-up's first pass done, change stream not yet open
)

// hooks lets tests stop the runner at precise points. The zero value does
// nothing.
type hooks struct {
	fn func(ctx context.Context, h hook, projection, state string) error
}

func (h hooks) call(ctx context.Context, point hook, projection, state string) error {
	if h.fn == nil {
		return nil
	}
	return h.fn(ctx, point, projection, state)
}
