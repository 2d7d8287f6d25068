package server

import (
	"github.com/labstack/echo/v4"
)

// retryProjection puts a failed projection back to work from its
// checkpoint: the event that failed is applied again. A projection that
// has not failed is 409 projection-not-failed; an unknown one 404.
func (s *Server) retryProjection(c echo.Context) error {
	if err := checkParams(c); err != nil {
		return err
	}
	name := c.Param("name")
	if err := s.runner.Retry(c.Request().Context(), name); err != nil {
		return err
	}
	return s.acceptedProjection(c, name)
}
