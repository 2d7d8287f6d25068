package mongostore

import (
	"errors"
	"strings"

	"github.com/256dpi/lungo"
	"go.mongodb.org/mongo-driver/mongo"
)

// IsHistoryLost reports that a change stream cannot resume because the
// oplog no longer holds its position: MongoDB's ChangeStreamHistoryLost
// (286) or a resume token it no longer finds (280), or the embedded
// engine's words for the same ("unable to resume change stream", or a
// stream that lost its oplog position while open).
func IsHistoryLost(err error) bool {
	if err == nil {
		return false
	}
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorCode(286) || se.HasErrorCode(280)) {
		return true
	}
	if errors.Is(err, lungo.ErrLostOplogPosition) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "unable to resume change stream") || strings.Contains(msg, "ChangeStreamHistoryLost")
}

// IsChangeTooLarge reports that MongoDB could not return a change event
// because it exceeds the 16 MiB document limit (BSONObjectTooLarge, 10334):
// an event stored near 16 MiB before annals kept ChangeEventHeadroom. A
// change stream cannot get past such an event by resuming; a reader must
// read it from the events collection and open a new stream after it.
func IsChangeTooLarge(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(10334)
}
