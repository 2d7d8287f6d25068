package server

import (
	"net/http"
	"time"

	"github.com/annalsdb/annals/projections"
	"github.com/labstack/echo/v4"
)

// ProjectionView is a projection's status as the API shows it.
type ProjectionView struct {
	Name       string     `json:"name"`
	State      string     `json:"state"`
	Generation int64      `json:"generation"`
	Version    int        `json:"version"`
	Owner      string     `json:"owner,omitempty"`
	LeaseUntil *time.Time `json:"lease_until,omitempty"`
	// WaitingForLease is set while this server's runner waits for another
	// owner's lease on the projection.
	WaitingForLease *LeaseWaitView `json:"waiting_for_lease,omitempty"`
	// Stalled is set while this server's runner keeps failing to make
	// progress on the projection (a full disk, say).
	Stalled     *StallView      `json:"stalled,omitempty"`
	Checkpoint  CheckpointView  `json:"checkpoint"`
	LastEvent   *LastEventView  `json:"last_event,omitempty"`
	Applied     int64           `json:"applied"`
	Behind      int64           `json:"behind"`
	LagSeconds  float64         `json:"lag_seconds"`
	HistoryLost int64           `json:"history_lost"`
	Failure     *FailureView    `json:"failure,omitempty"`
	Rebuild     *ProjectionView `json:"rebuild,omitempty"`
	Collections []string        `json:"collections"`
	UpdatedAt   *time.Time      `json:"updated_at,omitempty"`
}

// LeaseWaitView names the owner whose lease a runner waits for.
type LeaseWaitView struct {
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
	Since time.Time `json:"since"`
}

// StallView says why a runner cannot make progress on a projection. The
// error's text is logged, not shown: Detail is fixed per Reason.
type StallView struct {
	Reason   string    `json:"reason"`
	Detail   string    `json:"detail"`
	Since    time.Time `json:"since"`
	Attempts int       `json:"attempts"`
}

// stallDetails is what a client is told of each stall reason.
var stallDetails = map[string]string{
	projections.StallDiskFull: "the store's disk is full: the projection cannot commit and retries with backoff until space is freed",
	projections.StallError:    "the projection keeps failing to read or commit and retries with backoff; the server log has the errors",
}

// CheckpointView is where a projection resumes.
type CheckpointView struct {
	HasResumeToken bool       `json:"has_resume_token"`
	RecordedAt     *time.Time `json:"recorded_at,omitempty"`
	AggregateUUID  string     `json:"aggregate_uuid,omitempty"`
	Version        int64      `json:"version"`
}

// LastEventView is the last event a projection applied.
type LastEventView struct {
	ID            string    `json:"id"`
	AggregateUUID string    `json:"aggregate_uuid"`
	Version       int64     `json:"version"`
	Name          string    `json:"name"`
	RecordedAt    time.Time `json:"recorded_at"`
}

// FailureView says why a projection failed.
type FailureView struct {
	EventID       string    `json:"event_id"`
	EventName     string    `json:"event_name"`
	AggregateUUID string    `json:"aggregate_uuid"`
	Version       int64     `json:"version"`
	Error         string    `json:"error"`
	At            time.Time `json:"at"`
}

func (s *Server) projectionView(st projections.Status) ProjectionView {
	var collections []string
	if p, ok := s.runner.Projection(st.Name); ok {
		collections = collectionsOf(p)
	}
	return RenderProjection(st, collections)
}

// RenderProjection renders a projection's status as the API shows it; the
// CLI prints statuses from a store the same way.
func RenderProjection(st projections.Status, collections []string) ProjectionView {
	out := ProjectionView{
		Name: st.Name, State: st.State, Generation: st.Generation, Version: st.Version, Owner: st.Owner,
		Applied: st.Applied, Behind: st.Behind, LagSeconds: st.Lag.Seconds(), HistoryLost: st.HistoryLost,
		Collections: append([]string{}, collections...),
	}
	if !st.UpdatedAt.IsZero() {
		t := st.UpdatedAt
		out.UpdatedAt = &t
	}
	if !st.LeaseUntil.IsZero() {
		t := st.LeaseUntil
		out.LeaseUntil = &t
	}
	if w := st.WaitingForLease; w != nil {
		out.WaitingForLease = &LeaseWaitView{Owner: w.Owner, Until: w.Until, Since: w.Since}
	}
	if s := st.Stalled; s != nil {
		out.Stalled = &StallView{Reason: s.Reason, Detail: stallDetails[s.Reason], Since: s.Since, Attempts: s.Attempts}
	}
	cp := st.Checkpoint
	out.Checkpoint = CheckpointView{HasResumeToken: cp.ResumeToken != nil, Version: cp.Position.Version}
	if !cp.Position.IsZero() {
		t := cp.Position.RecordedAt
		out.Checkpoint.RecordedAt = &t
		out.Checkpoint.AggregateUUID = cp.Position.Stream.String()
	}
	if l := st.LastEvent; l != nil {
		out.LastEvent = &LastEventView{ID: l.ID.String(), AggregateUUID: l.Stream.String(), Version: l.Version, Name: l.Name, RecordedAt: l.RecordedAt}
	}
	if f := st.Failure; f != nil {
		out.Failure = &FailureView{EventID: f.EventID.String(), EventName: f.EventName, AggregateUUID: f.Stream.String(),
			Version: f.Version, Error: f.Error, At: f.At}
	}
	if st.Build != nil {
		b := RenderProjection(*st.Build, collections)
		out.Rebuild = &b
	}
	return out
}

func collectionsOf(p *projections.Projection) []string {
	if len(p.Collections) == 0 {
		return []string{p.Name}
	}
	return p.Collections
}

func (s *Server) listProjections(c echo.Context) error {
	if err := checkParams(c); err != nil {
		return err
	}
	sts, err := s.runner.Statuses(c.Request().Context())
	if err != nil {
		return err
	}
	out := struct {
		Projections []ProjectionView `json:"projections"`
	}{Projections: []ProjectionView{}}
	for _, st := range sts {
		out.Projections = append(out.Projections, s.projectionView(st))
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) getProjection(c echo.Context) error {
	if err := checkParams(c); err != nil {
		return err
	}
	st, err := s.runner.Status(c.Request().Context(), c.Param("name"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.projectionView(st))
}

// rebuildProjection starts a rebuild: blue/green by default, or
// ?mode=drop to drop and replay.
func (s *Server) rebuildProjection(c echo.Context) error {
	if err := checkParams(c, "mode"); err != nil {
		return err
	}
	mode := projections.BlueGreen
	switch m := c.QueryParam("mode"); m {
	case "", "blue_green":
	case "drop":
		mode = projections.DropAndReplay
	default:
		return badRequest(`mode %q must be "blue_green" or "drop"`, m)
	}
	name := c.Param("name")
	if err := s.runner.Rebuild(c.Request().Context(), name, mode); err != nil {
		return err
	}
	return s.acceptedProjection(c, name)
}

// acceptedProjection answers 202 with the projection's status, after a
// rebuild or a retry was started.
func (s *Server) acceptedProjection(c echo.Context, name string) error {
	st, err := s.runner.Status(c.Request().Context(), name)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/projections/"+name)
	return c.JSON(http.StatusAccepted, s.projectionView(st))
}
