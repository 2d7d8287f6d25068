package server

import "net/http"

// Drain puts the server in its lame-duck phase, the first step of a
// graceful shutdown: /readyz answers 503 at once (so a load balancer
// takes the server out of rotation), every response closes its
// connection (so no keep-alive connection stays idle, where closing it
// later could cut a request the client is just sending), and live feeds
// end as CloseLiveFeeds ends them. Every other request is served as
// before. The caller keeps serving for a while (the time its load
// balancer takes to notice), then stops accepting connections and
// shuts the http.Server down.
func (s *Server) Drain() {
	s.draining.Store(true)
	s.closeFeeds()
}

// closeWhileDraining asks net/http to close each connection after its
// response once Drain has been called.
func (s *Server) closeWhileDraining(w http.ResponseWriter) {
	if s.draining.Load() {
		w.Header().Set("Connection", "close")
	}
}
