package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/annalsdb/annals/projections"
	"github.com/schollz/progressbar/v3"
)

// progress shows how far a long job has come. Implementations draw a bar
// on a terminal or print plain lines elsewhere.
type progress interface {
	// set reports done units out of total (total may grow).
	set(done, total int64)
	// finish ends the display.
	finish()
}

// newProgress returns a bar when w is a terminal, else plain lines
// written at most once a second.
func newProgress(w io.Writer, what, unit string, total int64) progress {
	if isTerminal(w) {
		return newBar(w, what, unit, total)
	}
	return &lines{w: w, what: what, unit: unit, start: time.Now()}
}

// bar is a progress bar with count, rate and ETA.
type bar struct {
	pb *progressbar.ProgressBar
}

func newBar(w io.Writer, what, unit string, total int64) *bar {
	if total <= 0 {
		total = -1 // unknown: a spinner
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	}
	if unit == "bytes" {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit))
	}
	return &bar{pb: progressbar.NewOptions64(total, opts...)}
}

func (b *bar) set(done, total int64) {
	if total > 0 && total != b.pb.GetMax64() {
		b.pb.ChangeMax64(total)
	}
	_ = b.pb.Set64(done)
}

func (b *bar) finish() {
	_ = b.pb.Finish()
}

// lines prints "what: done/total unit (p%), rate unit/s, about T left"
// when the count moves, at most once a second, and once more at the end.
type lines struct {
	w           io.Writer
	what, unit  string
	start       time.Time
	first       int64
	seen        bool
	last        time.Time
	done, total int64
	printed     int64
}

func (l *lines) set(done, total int64) {
	if !l.seen {
		l.first, l.seen = done, true
	}
	l.done, l.total = done, total
	if now := time.Now(); now.Sub(l.last) >= time.Second && done != l.printed {
		l.print(now)
	}
}

func (l *lines) print(now time.Time) {
	l.last, l.printed = now, l.done
	msg := fmt.Sprintf("%s: %d", l.what, l.done)
	if l.total > 0 {
		msg += fmt.Sprintf("/%d %s (%d%%)", l.total, l.unit, l.done*100/max(l.total, 1))
	} else {
		msg += " " + l.unit
	}
	if el := now.Sub(l.start).Seconds(); el > 0 && l.done > l.first {
		rate := float64(l.done-l.first) / el
		msg += fmt.Sprintf(", %.0f %s/s", rate, l.unit)
		if l.total > l.done {
			eta := time.Duration(float64(l.total-l.done) / rate * float64(time.Second))
			msg += fmt.Sprintf(", about %s left", eta.Round(time.Second))
		}
	}
	fmt.Fprintln(l.w, msg)
}

func (l *lines) finish() {
	if l.done != l.printed || l.printed == 0 {
		l.print(time.Now())
	}
}

// rebuildProjection starts a rebuild (mode "blue_green" or "drop") and,
// unless --wait=false, waits for it, showing its progress. verb is what
// the command calls it: "rebuild" or "reset".
func rebuildProjection(ctx context.Context, api projectionsAPI, fl *projectionsFlags, verb, name, mode string, out, stderr io.Writer) error {
	before, err := api.status(ctx, name)
	if err != nil {
		return err
	}
	if err := api.rebuild(ctx, name, mode); err != nil {
		return err
	}
	report := out
	if fl.json {
		report = stderr
	}
	if !fl.wait {
		fmt.Fprintf(report, "%s of %s recorded (%s); follow it with 'annals projections status %s'\n", verb, name, mode, name)
		if fl.json {
			v, err := api.status(ctx, name)
			if err != nil {
				return err
			}
			return writeJSONIndent(out, v)
		}
		return nil
	}
	start := time.Now()
	p := newProgress(report, verb+" "+name, "events", before.Behind+before.Applied)
	v, err := waitRebuild(ctx, api, name, before.Generation, fl.interval, p)
	p.finish()
	if err != nil {
		return err
	}
	if fl.json {
		return writeJSONIndent(out, v)
	}
	fmt.Fprintf(report, "%s of %s done in %s: generation %d is live with %d events applied\n",
		verb, name, time.Since(start).Round(time.Millisecond), v.Generation, v.Applied)
	return nil
}

// waitRebuild polls a projection until a generation after from serves,
// with nothing behind. A failure ends the wait with an error.
func waitRebuild(ctx context.Context, api projectionsAPI, name string, from int64, every time.Duration, p progress) (projectionView, error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		v, err := api.status(ctx, name)
		if err != nil {
			return v, err
		}
		building := v
		if v.Rebuild != nil {
			building = *v.Rebuild
		}
		for _, s := range []projectionView{v, building} {
			if s.State == projections.StateFailed && s.Failure != nil {
				return v, fmt.Errorf("projection %s failed on event %s (%s, %s v%d): %s", name,
					s.Failure.EventID, s.Failure.EventName, s.Failure.AggregateUUID, s.Failure.Version, s.Failure.Error)
			}
		}
		p.set(building.Applied, building.Applied+building.Behind)
		// Done once a later generation serves with nothing behind. It may
		// still say catching_up for a moment after a blue/green switch,
		// until the runner's worker notices the switch; its read models
		// are complete by then.
		caughtUp := v.State == projections.StateLive || v.State == projections.StateCatchingUp
		if v.Rebuild == nil && v.Generation > from && caughtUp && v.Behind == 0 {
			return v, nil
		}
		if err := api.working(); err != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, fmt.Errorf("stopped waiting for %s (%s, generation %d, %d behind): %w; the rebuild is recorded and goes on wherever a projection runner runs",
				name, building.State, building.Generation, building.Behind, ctx.Err())
		case <-t.C:
		}
	}
}
