package server

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// Access is what a token allows.
type Access int

const (
	// ReadWrite tokens may call every endpoint.
	ReadWrite Access = iota
	// ReadOnly tokens may only read (GET).
	ReadOnly
)

// Token is a bearer token and what it allows.
type Token struct {
	Secret string
	Access Access
}

// authenticate checks the bearer token of every /v1 request when tokens
// are configured: a missing or unknown token is 401, a read-only token on
// a write is 403.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if len(s.opts.Tokens) == 0 {
			c.Set(accessKey, accessOpen)
			return next(c)
		}
		h := c.Request().Header.Get(echo.HeaderAuthorization)
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
			return errUnauthorizedf("a bearer token is required")
		}
		access, found := s.lookup(secret)
		if !found {
			return errUnauthorizedf("the bearer token is not valid")
		}
		c.Set(accessKey, accessName(access))
		m := c.Request().Method
		if access == ReadOnly && m != http.MethodGet && m != http.MethodHead {
			return errForbiddenf("a read-only token cannot %s", m)
		}
		return next(c)
	}
}

// lookup compares secrets in constant time, all of them every time.
func (s *Server) lookup(secret string) (Access, bool) {
	found, access := false, ReadOnly
	for _, t := range s.opts.Tokens {
		if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1 {
			if !found || t.Access == ReadWrite {
				access = t.Access
			}
			found = true
		}
	}
	return access, found
}

func errUnauthorizedf(msg string) error { return wrapf(errUnauthorized, "%s", msg) }
func errForbiddenf(format string, args ...any) error {
	return wrapf(errForbidden, format, args...)
}
