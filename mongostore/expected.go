package mongostore

import "strconv"

// ExpectedVersion states what an append expects of its stream. Use Any,
// NoStream, StreamExists or Exact(n).
type ExpectedVersion struct {
	kind    expectKind
	version int64
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectExact
)

var (
	// Any appends whatever the stream's version; the store assigns the
	// next versions and retries internally when it races another writer.
	Any = ExpectedVersion{kind: expectAny}
	// NoStream requires that the stream has no events yet.
	NoStream = ExpectedVersion{kind: expectNoStream}
	// StreamExists requires that the stream has at least one event.
	StreamExists = ExpectedVersion{kind: expectExists}
)

// Exact requires the stream to be at version n (its last event has version
// n). Exact(0) is the same as NoStream. A negative n is refused with
// ErrInvalidInput.
func Exact(n int64) ExpectedVersion {
	if n == 0 {
		return NoStream
	}
	return ExpectedVersion{kind: expectExact, version: n}
}

// Version reports the exact version expected and whether one is; NoStream
// reports (0, true).
func (e ExpectedVersion) Version() (int64, bool) {
	switch e.kind {
	case expectExact:
		return e.version, true
	case expectNoStream:
		return 0, true
	}
	return 0, false
}

// IsAny reports whether e is Any.
func (e ExpectedVersion) IsAny() bool { return e.kind == expectAny }

// String renders e as "any", "no stream", "stream exists" or "version N".
func (e ExpectedVersion) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectExists:
		return "stream exists"
	case expectExact:
		return "version " + strconv.FormatInt(e.version, 10)
	}
	return "any"
}

// satisfiedBy reports whether a stream at version actual meets e.
func (e ExpectedVersion) satisfiedBy(actual int64) bool {
	switch e.kind {
	case expectNoStream:
		return actual == 0
	case expectExists:
		return actual > 0
	case expectExact:
		return actual == e.version
	}
	return true
}
