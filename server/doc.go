// Package server is annals' HTTP API: an [http.Handler] over an event
// store and a projection runner, the same API `annals serve` runs.
//
// It serves appends and reads of streams (POST and GET
// /v1/streams/{id}/events), the list of streams (GET /v1/streams), the
// projections' status, retries, rebuilds and read-model documents
// (/v1/projections/…), what the server is and what the caller may do
// (GET /v1/info), a live feed of events as Server-Sent Events (GET
// /v1/events/live), persistent subscriptions when [Options.Subscriptions]
// is set (/v1/subscriptions/…: create, list, delete, long-poll fetch,
// ack, nack, parked and replay, webhooks and their delivery log), health and readiness (/healthz, /readyz), Prometheus
// metrics (/metrics) and its OpenAPI description (/openapi.yaml, also in
// [OpenAPI]). Errors are RFC 9457 problem documents whose type names what
// went wrong; they never carry internal error text.
//
// # Embedding the API
//
// Build the store and the runner, hand both to [New], run the runner and
// serve the handler with an [http.Server] of your own, with the timeouts
// you want; on shutdown stop accepting requests first, then the runner:
//
//	store, err := mongostore.Open(ctx, "file:annals.db")
//	if err != nil { … }
//	defer store.Close(ctx)
//	runner := projections.NewRunner(store, projections.Streams(), projections.EventCounts())
//	api, err := server.New(store, runner, server.Options{
//		Tokens: []server.Token{{Secret: os.Getenv("ANNALS_TOKEN"), Access: server.ReadWrite}},
//	})
//	if err != nil { … }
//	go runner.Run(ctx) // returns when ctx ends
//	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: api, ReadHeaderTimeout: 10 * time.Second}
//	err = srv.ListenAndServe()
//
// Without tokens the API requires no authentication: bind it to loopback
// only. Whatever the tokens, a state-changing request a browser sends from
// another site (Sec-Fetch-Site cross-site or same-site, or an Origin that
// is not the request's host) is refused with 403, so a web page cannot
// make a loopback server rebuild, retry or append. A token has [ReadWrite] or [ReadOnly] access. The runner's
// projections' read models are served by name; register
// [projections.Streams] for GET /v1/streams. [Server.Echo] returns the
// Echo instance for routes or middleware of your own.
//
// To serve persistent subscriptions, pass a [subscriptions.Service] as
// Options.Subscriptions and run its Run beside the runner; call
// [Server.CloseLiveFeeds] as shutdown begins, which also ends the wait of
// every subscription fetch.
//
// To shut down behind a load balancer without cutting a request, call
// [Server.Drain] first: /readyz turns 503, each response closes its
// connection and live feeds end, while requests are still served. Keep
// serving for as long as the balancer takes to notice, then stop
// accepting and call http.Server.Shutdown (annals serve does this; see
// its --drain-delay).
//
// # The web console
//
// With [Options.Console] set, the server also serves a web console at
// /ui/: plain HTML, CSS and JavaScript modules embedded in the binary (see
// [ConsoleFiles]), no build step. It lists and searches streams, shows a
// stream's events (also as of a version or a time), follows the live
// feed, shows every projection's status with Retry (POST
// /v1/projections/{name}/retry) and Rebuild, browses read models, and
// charts a few metrics. It reads everything through the public API with
// the operator's bearer token, which it keeps in the tab's session storage
// and sends only in the Authorization header (the live feed is read with
// fetch, not EventSource, for that reason); GET /v1/info tells it the
// caller's access, so a read-only token gets no Retry or Rebuild. Its own
// files carry no data and are served without a token, with a strict
// Content-Security-Policy ([ConsoleCSP]: no inline code, nothing from
// other origins, never framed), nosniff, no-referrer, and ETags.
//
// The handler can also be mounted under a prefix with [http.StripPrefix],
// or tested with net/http/httptest, as the package example shows.
//
// # Tracing
//
// Every /v1 request runs in the caller's trace when it sends a W3C
// traceparent (and tracestate) header, else in a new one. With a tracer
// provider (Options.TracerProvider, else OpenTelemetry's global one) each
// is a server span named after its method and route ("POST
// /v1/streams/:id/events"), with OpenTelemetry's HTTP attributes; an
// append's store span is its child, and the events record that span in
// their metadata (see [mongostore.MetaTraceparent]). With no provider the
// server makes no spans, but a caller's traceparent still reaches the
// events' metadata. /healthz, /readyz, /metrics and /openapi.yaml are not
// traced.
package server
