package server

// diskFullDetail is what a client is told; the cause is logged.
const diskFullDetail = "the store's disk is full: nothing more can be written. An append that met it was not stored, " +
	"or (if it failed while committing) its outcome is unknown: once space is freed (and, on an embedded store, annals " +
	"restarted), retry it with the same event ids, which never stores an event twice"
