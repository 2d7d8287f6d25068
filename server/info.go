package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// accessKey is the Echo context key under which authenticate records what
// the caller may do: accessOpen, "read-write" or "read-only".
const accessKey = "annals.access"

// Access levels as GET /v1/info names them.
const (
	accessOpen      = "open"
	accessReadWrite = "read-write"
	accessReadOnly  = "read-only"
)

func accessName(a Access) string {
	if a == ReadWrite {
		return accessReadWrite
	}
	return accessReadOnly
}

// InfoView is what GET /v1/info answers: what this server is and what the
// caller may do with it.
type InfoView struct {
	// Version is the server's version ("" when it was not told).
	Version string `json:"version"`
	// Engine is the store's engine: mongodb, memory or file.
	Engine string `json:"engine"`
	// Store is the store's URI with any password masked.
	Store string `json:"store"`
	// Access is the caller's: open (no tokens configured), read-write or
	// read-only.
	Access string `json:"access"`
	// Projections names the projections this server runs.
	Projections []string `json:"projections"`
}

func (s *Server) info(c echo.Context) error {
	if err := checkParams(c); err != nil {
		return err
	}
	access, _ := c.Get(accessKey).(string)
	if access == "" {
		access = accessOpen
	}
	out := InfoView{Version: s.opts.Version, Engine: string(s.store.Engine()), Store: MaskURI(s.opts.StoreURI),
		Access: access, Projections: []string{}}
	for _, p := range s.runner.Projections() {
		out.Projections = append(out.Projections, p.Name)
	}
	return c.JSON(http.StatusOK, out)
}

// MaskURI hides the secrets of a store URI for logs and GET /v1/info:
// the password (mongodb://user:pass@host/db becomes
// mongodb://user:***@host/db) and query parameters that can carry one
// (password, secret, token, authMechanismProperties, …), whether the query
// separates them with '&' or ';'. It works on the text, not on a parsed
// URL, so URIs net/url refuses (several IPv6 hosts, a '#' in a password)
// are masked too; where it cannot tell, it masks more rather than less.
func MaskURI(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri // memory:, file:PATH
	}
	// The userinfo ends at the last '@': a password may hold '@', '#', '/'
	// or '?' (escaped or not), a host may not.
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		if user, _, hasPassword := strings.Cut(rest[:at], ":"); hasPassword {
			rest = user + ":***" + rest[at:]
		}
	}
	if base, query, hasQuery := strings.Cut(rest, "?"); hasQuery {
		rest = base + "?" + maskQuery(query)
	}
	return scheme + "://" + rest
}

// maskQuery masks the values of a query's secret parameters, keeping the
// separators ('&' or ';') as written.
func maskQuery(q string) string {
	var b strings.Builder
	for q != "" {
		i := strings.IndexAny(q, "&;")
		pair, sep := q, ""
		if i >= 0 {
			pair, sep, q = q[:i], q[i:i+1], q[i+1:]
		} else {
			q = ""
		}
		key, _, hasValue := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if hasValue && secretParam(key) {
			pair = pair[:strings.IndexByte(pair, '=')] + "=***"
		}
		b.WriteString(pair)
		b.WriteString(sep)
	}
	return b.String()
}

// secretParam reports whether a URI query parameter can carry a secret.
func secretParam(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "secret", "token", "authmechanismproperties"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}
