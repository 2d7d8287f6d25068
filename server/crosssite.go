package server

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// refuseCrossSite refuses a state-changing /v1 request that a browser
// sent from another site. Without tokens (loopback) any web page the
// operator has open could otherwise POST a rebuild or a retry to
// 127.0.0.1: a text/plain POST needs no CORS preflight. Browsers say where
// a request comes from (Sec-Fetch-Site, Origin); clients that are not
// browsers send neither and are not affected. Reads stay open: a
// cross-site page cannot read their answers.
func refuseCrossSite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			return next(c)
		}
		if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
			return errForbiddenf("a %s request from another site (Sec-Fetch-Site: %s) is refused", r.Method, site)
		}
		if origin := r.Header.Get("Origin"); origin != "" && !sameOrigin(origin, r.Host) {
			return errForbiddenf("a %s request from origin %q is refused: it is not this server's", r.Method, origin)
		}
		return next(c)
	}
}

// sameOrigin reports whether an Origin header names the host the request
// was sent to.
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false // "null" (sandboxed or file: pages) included
	}
	return strings.EqualFold(u.Host, host)
}
