package mongostore

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

func TestHeadOf(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	tests := []struct {
		name    string
		doc     bson.D
		want    head
		wantErr bool
	}{
		{"every field", bson.D{{Key: fieldVersion, Value: int64(7)}, {Key: fieldStreamType, Value: "Order"}, {Key: fieldRecordedAt, Value: primitive.NewDateTimeFromTime(at)}},
			head{version: 7, typ: "Order", at: at}, false},
		{"int32 version", bson.D{{Key: fieldVersion, Value: int32(3)}, {Key: fieldStreamType, Value: ""}},
			head{version: 3, at: time.UnixMilli(0)}, false},
		{"no type, no time", bson.D{{Key: fieldVersion, Value: int64(1)}},
			head{version: 1, at: time.UnixMilli(0)}, false},
		{"null type", bson.D{{Key: fieldVersion, Value: int64(2)}, {Key: fieldStreamType, Value: nil}},
			head{version: 2, at: time.UnixMilli(0)}, false},
		{"no version", bson.D{{Key: fieldStreamType, Value: "Order"}}, head{}, true},
		{"string version", bson.D{{Key: fieldVersion, Value: "7"}}, head{}, true},
		{"fractional version", bson.D{{Key: fieldVersion, Value: 7.5}}, head{}, true},
		{"whole double version", bson.D{{Key: fieldVersion, Value: 7.0}}, head{version: 7, at: time.UnixMilli(0)}, false},
		{"number type", bson.D{{Key: fieldVersion, Value: int64(7)}, {Key: fieldStreamType, Value: int32(3)}}, head{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bson.Marshal(tt.doc)
			if err != nil {
				t.Fatal(err)
			}
			got, err := headOf(raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("headOf error = %v, want error %v", err, tt.wantErr)
			}
			if got.version != tt.want.version || got.typ != tt.want.typ || !got.at.Equal(tt.want.at) {
				t.Fatalf("headOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}
