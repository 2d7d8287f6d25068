package server

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
)

// checkRequest refuses, on every route, what the server would otherwise
// silently misread: a query string that does not parse (Go's URL parser
// drops the pairs it cannot decode) and a body in a content coding the
// server does not decode.
func checkRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
			return badRequest("the query string is malformed: %s", queryError(err))
		}
		for _, v := range r.Header.Values(echo.HeaderContentEncoding) {
			for coding := range strings.SplitSeq(v, ",") {
				if coding = strings.TrimSpace(coding); coding != "" && !strings.EqualFold(coding, "identity") {
					return wrapf(errUnsupportedMedia, "Content-Encoding %q is not supported; send the body uncompressed", coding)
				}
			}
		}
		return next(c)
	}
}

// queryError words a query parsing error without Go's package prefixes.
func queryError(err error) string {
	if e, ok := err.(url.EscapeError); ok {
		return fmt.Sprintf("invalid percent-escape %q", string(e))
	}
	return err.Error()
}
