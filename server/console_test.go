package server_test

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/annalsdb/annals/projections"
	"github.com/annalsdb/annals/server"
)

// consoleServer serves the API with the console on (or off) and a token.
func consoleServer(t *testing.T, on bool) *httptest.Server {
	t.Helper()
	env := newOAEnv(t, server.Options{Console: on, Tokens: []server.Token{{Secret: oaWriter}}}, projections.Streams())
	return env.http
}

func consoleGet(t *testing.T, url string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	// Redirects are checked, not followed.
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

// TestConsoleServesItsFilesWithSecurityHeaders: the console's files are
// served without a token (they hold no data), each with a strict CSP and
// the other security headers, revalidated by ETag.
func TestConsoleServesItsFilesWithSecurityHeaders(t *testing.T) {
	srv := consoleServer(t, true)
	for _, c := range []struct {
		path, contentType, contains string
	}{
		{"/ui/", "text/html; charset=utf-8", `<script type="module" src="js/app.js">`},
		{"/ui/index.html", "text/html; charset=utf-8", "annals console"},
		{"/ui/console.css", "text/css; charset=utf-8", ":focus-visible"},
		{"/ui/js/app.js", "text/javascript; charset=utf-8", "/v1/info"},
		{"/ui/js/api.js", "text/javascript; charset=utf-8", "Authorization"},
	} {
		t.Run(c.path, func(t *testing.T) {
			res, body := consoleGet(t, srv.URL+c.path, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200; body %s", res.StatusCode, body)
			}
			if got := res.Header.Get("Content-Type"); got != c.contentType {
				t.Errorf("Content-Type %q, want %q", got, c.contentType)
			}
			if !strings.Contains(body, c.contains) {
				t.Errorf("body lacks %q", c.contains)
			}
			checkSecurityHeaders(t, res.Header)
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache (revalidate by ETag)", got)
			}
			etag := res.Header.Get("ETag")
			if etag == "" {
				t.Fatal("no ETag")
			}
			again, _ := consoleGet(t, srv.URL+c.path, map[string]string{"If-None-Match": etag})
			if again.StatusCode != http.StatusNotModified {
				t.Errorf("with If-None-Match %s: status %d, want 304", etag, again.StatusCode)
			}
			other, _ := consoleGet(t, srv.URL+c.path, map[string]string{"If-None-Match": `"stale"`})
			if other.StatusCode != http.StatusOK {
				t.Errorf("with a stale ETag: status %d, want 200", other.StatusCode)
			}
		})
	}
	t.Run("HEAD /ui/", func(t *testing.T) {
		res, err := http.Head(srv.URL + "/ui/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("ETag") == "" {
			t.Errorf("status %d, ETag %q; want 200 with the page's ETag", res.StatusCode, res.Header.Get("ETag"))
		}
		checkSecurityHeaders(t, res.Header)
	})
	t.Run("/ui redirects to /ui/", func(t *testing.T) {
		res, _ := consoleGet(t, srv.URL+"/ui", nil)
		if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/ui/" {
			t.Errorf("status %d Location %q, want 301 to /ui/", res.StatusCode, res.Header.Get("Location"))
		}
	})
	for _, p := range []string{"/ui/nope.js", "/ui/../openapi.yaml", "/uinope", "/ui/js/"} {
		t.Run(p+" is not found", func(t *testing.T) {
			res, body := consoleGet(t, srv.URL+p, nil)
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("status %d, want 404; body %s", res.StatusCode, body)
			}
		})
	}
	t.Run("the API still needs a token", func(t *testing.T) {
		res, _ := consoleGet(t, srv.URL+"/v1/info", nil)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/info without a token: status %d, want 401", res.StatusCode)
		}
	})
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	for _, banned := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, banned) {
			t.Errorf("Content-Security-Policy %q allows %q", csp, banned)
		}
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s %q, want %q", k, got, want)
		}
	}
}

func TestConsoleOff(t *testing.T) {
	srv := consoleServer(t, false)
	for _, p := range []string{"/ui/", "/ui", "/ui/js/app.js"} {
		if res, _ := consoleGet(t, srv.URL+p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s with the console off: status %d, want 404", p, res.StatusCode)
		}
	}
}

// TestConsoleSourcesStayStrict reads the embedded sources: no inline
// script or style (the CSP would block them anyway) and no API that parses
// strings as HTML, so data can only ever reach the page as text.
func TestConsoleSourcesStayStrict(t *testing.T) {
	inline := regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]|<style|\sstyle=|\son[a-z]+=|javascript:`)
	htmlSinks := regexp.MustCompile(`\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|createContextualFragment|setAttribute\(\s*'style'`)
	n := 0
	err := fs.WalkDir(server.ConsoleFiles(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(server.ConsoleFiles(), p)
		if err != nil {
			return err
		}
		n++
		switch {
		case strings.HasSuffix(p, ".html"):
			if m := inline.FindString(string(b)); m != "" {
				t.Errorf("%s has inline code or style: %q", p, m)
			}
		case strings.HasSuffix(p, ".js"):
			if m := htmlSinks.FindString(string(b)); m != "" {
				t.Errorf("%s uses %q: build the DOM with textContent and createElement", p, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("read %d console files, want the HTML, CSS and scripts", n)
	}
}

func TestMaskURI(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"mongodb://user:pass@db1:27017/annals", "mongodb://user:***@db1:27017/annals"},
		{"mongodb://user:p%40ss%3Aw0rd@db1:27017,db2:27017/annals?replicaSet=rs0", "mongodb://user:***@db1:27017,db2:27017/annals?replicaSet=rs0"},
		{"mongodb+srv://app:s3cret@cluster0.example.net/?retryWrites=true", "mongodb+srv://app:***@cluster0.example.net/?retryWrites=true"},
		{"mongodb://user@db1/annals", "mongodb://user@db1/annals"},
		{"mongodb://db1/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok", "mongodb://db1/?authMechanism=MONGODB-AWS&authMechanismProperties=***"},
		{"mongodb://u:pw@db1/?password=x", "mongodb://u:***@db1/?password=***"},
		{"file:/var/lib/annals.db", "file:/var/lib/annals.db"},
		{"memory:", "memory:"},
		{"", ""},
		{"mongodb://user:pa ss@%zz", "mongodb://user:***@%zz"},
		{"mongodb://host/?w=majority;authMechanismProperties=AWS_SESSION_TOKEN:tok", "mongodb://host/?w=majority;authMechanismProperties=***"},
		{"mongodb://[::1]:27017,[::2]:27017/?authMechanismProperties=AWS_SESSION_TOKEN:tok", "mongodb://[::1]:27017,[::2]:27017/?authMechanismProperties=***"},
		{"mongodb://user:12#pass@host/db", "mongodb://user:***@host/db"},
		{"mongodb://user:pa/ss?x@host/db?appName=a@b", "mongodb://user:***@b"},
		{"mongodb://host/?tlsCertificateKeyFilePassword=tok&appName=x", "mongodb://host/?tlsCertificateKeyFilePassword=***&appName=x"},
	} {
		t.Run(c.in, func(t *testing.T) {
			got := server.MaskURI(c.in)
			if got != c.want {
				t.Errorf("MaskURI(%q) = %q, want %q", c.in, got, c.want)
			}
			for _, secret := range []string{"pass", "s3cret", "p%40ss", "tok", "pa ss", "12#pass", "pa/ss"} {
				if strings.Contains(c.in, ":"+secret) && strings.Contains(got, secret) {
					t.Errorf("MaskURI(%q) = %q shows the secret %q", c.in, got, secret)
				}
			}
		})
	}
}
