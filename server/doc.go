// Package server is annals' HTTP API: an [http.Handler] over an event
// store and a projection runner, the same API `annals serve` runs.
//
// It serves appends and reads of streams (POST and GET
// /v1/streams/{id}/events), the list of streams (GET /v1/streams), the
// projections' status, rebuilds and read-model documents
// (/v1/projections/…), a live feed of events as Server-Sent Events (GET
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
// only. A token has [ReadWrite] or [ReadOnly] access. The runner's
// projections' read models are served by name; register
// [projections.Streams] for GET /v1/streams. [Server.Echo] returns the
// Echo instance for routes or middleware of your own.
//
// To serve persistent subscriptions, pass a [subscriptions.Service] as
// Options.Subscriptions and run its Run beside the runner; call
// [Server.CloseLiveFeeds] as shutdown begins, which also ends the wait of
// every subscription fetch.
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
