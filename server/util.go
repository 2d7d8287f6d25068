package server

import (
	"errors"

	"go.mongodb.org/mongo-driver/mongo"
)

func isNoDocuments(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }
