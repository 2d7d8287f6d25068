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

// MaskURI hides the password of a URI: mongodb://user:pass@host/db becomes
// mongodb://user:***@host/db. Credentials in the query (e.g. an AWS
// session token) are masked the same way. A URI that does not parse is
// masked whole, unless it plainly holds no credentials (no '@').
func MaskURI(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		if strings.Contains(uri, "@") {
			scheme, _, _ := strings.Cut(uri, ":")
			return scheme + ":***"
		}
		return uri
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "***")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		masked := false
		for k := range q {
			if secretParam(k) {
				q.Set(k, "***")
				masked = true
			}
		}
		if masked {
			u.RawQuery = q.Encode()
		}
	}
	// url.URL.String escapes the mask's '*'s; show them as written.
	return strings.ReplaceAll(u.String(), "%2A%2A%2A", "***")
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
