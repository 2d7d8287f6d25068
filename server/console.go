package server

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// ui holds the web console: plain HTML, CSS and JavaScript modules, built
// into the binary. The console reads everything through the public API
// (/v1/…, /readyz, /metrics) with the token the operator types in; its
// own files carry no data, so they are served without authentication.
//
//go:embed ui
var ui embed.FS

// ConsoleCSP is the Content-Security-Policy of every console response: the
// console's own scripts and styles only (no inline code, no eval), API
// calls to this origin only, never framed.
const ConsoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleFile is one embedded asset, ready to serve.
type consoleFile struct {
	body        []byte
	contentType string
	etag        string
}

// consoleTypes maps the console's file extensions to their media types.
var consoleTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// loadConsole reads the embedded console once. Each file's ETag is its
// content's hash: the files change only with the binary.
func loadConsole() (map[string]consoleFile, error) {
	files := map[string]consoleFile{}
	err := fs.WalkDir(ui, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ct, ok := consoleTypes[path.Ext(p)]
		if !ok {
			return nil // not an asset the console serves
		}
		b, err := ui.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		files[strings.TrimPrefix(p, "ui/")] = consoleFile{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
		return nil
	})
	return files, err
}

// routeConsole serves the console under /ui/ (and redirects /ui there).
// One wildcard route: Echo would otherwise need /ui, /ui/ and /ui/* apart.
func (s *Server) routeConsole(e *echo.Echo) {
	files, err := loadConsole()
	if err != nil {
		// The files are compiled in: failing to read them is a broken
		// build, not a runtime condition.
		panic("server: read the embedded console: " + err.Error())
	}
	e.Match([]string{http.MethodGet, http.MethodHead}, "/ui*", func(c echo.Context) error {
		setConsoleHeaders(c.Response().Header())
		p := c.Request().URL.Path
		if p == "/ui" {
			return c.Redirect(http.StatusMovedPermanently, "/ui/")
		}
		name, ok := strings.CutPrefix(p, "/ui/")
		if !ok {
			return wrapf(errNotFound, "no such page: %s", p)
		}
		if name == "" {
			name = "index.html"
		}
		f, ok := files[name]
		if !ok {
			return wrapf(errNotFound, "the console has no file %q", name)
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, f.contentType)
		h.Set("ETag", f.etag)
		// Revalidate every time (a new binary may serve new files under
		// the same names); an unchanged file costs a 304.
		h.Set("Cache-Control", "no-cache")
		if inm := c.Request().Header.Get("If-None-Match"); inm != "" && etagMatch(inm, f.etag) {
			return c.NoContent(http.StatusNotModified)
		}
		return c.Blob(http.StatusOK, f.contentType, f.body)
	})
}

// setConsoleHeaders sets the security headers of every console response.
func setConsoleHeaders(h http.Header) {
	h.Set("Content-Security-Policy", ConsoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// etagMatch reports whether an If-None-Match header names etag.
func etagMatch(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// ConsoleFiles returns the console's embedded files, rooted at the
// console's directory (index.html, console.css, js/…).
func ConsoleFiles() fs.FS {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic("server: the embedded console: " + err.Error()) // a constant path
	}
	return sub
}
