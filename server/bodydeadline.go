package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo/v4"
)

// errBodyTimeout means a request body did not arrive within
// Options.BodyReadTimeout.
var errBodyTimeout = errors.New("request body timeout")

// bodyDeadline bounds the time a request body may take to arrive: a client
// sending a byte a second would otherwise hold a connection and a handler
// forever. The deadline is lifted once the body has been read, so that it
// cannot cut the connection while the request is being served.
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			return next(c)
		}
		rc := http.NewResponseController(c.Response().Writer)
		if err := rc.SetReadDeadline(time.Now().Add(s.opts.BodyReadTimeout)); err != nil {
			return next(c) // a writer without deadlines (an embedding program's own)
		}
		r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: s.opts.BodyReadTimeout}
		return next(c)
	}
}

// deadlineBody lifts the read deadline at the end of the body and turns a
// deadline error into errBodyTimeout.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	done    bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = wrapf(errBodyTimeout, "the body did not arrive within %s", b.timeout)
	case !b.done:
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
