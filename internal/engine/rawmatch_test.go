package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/256dpi/lungo/mongokit"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
)

// TestRawFilterAgreesWithMongokit: wherever the raw matcher decides, it
// decides as mongokit does on the decoded document.
func TestRawFilterAgreesWithMongokit(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	values := []any{
		nil, int32(1), int64(1), 1.0, 2.5, int64(3), math.NaN(), math.Inf(1), "a", "b", "", true, false,
		primitive.NewDateTimeFromTime(primitive.DateTime(0).Time()), primitive.DateTime(5000),
		primitive.Binary{Subtype: 4, Data: []byte("0123456789abcdef")}, primitive.Binary{Subtype: 0, Data: []byte("x")},
		bson.A{int32(1), "a"}, bson.A{}, bson.D{{Key: "x", Value: int32(1)}},
	}
	pick := func() any { return values[r.IntN(len(values))] }
	fields := []string{"a", "b", "c.x", "d"}
	doc := func() bson.D {
		d := bson.D{{Key: "_id", Value: r.IntN(1000)}}
		for _, f := range []string{"a", "b", "d"} {
			if r.IntN(4) > 0 {
				d = append(d, bson.E{Key: f, Value: pick()})
			}
		}
		if r.IntN(2) == 0 {
			d = append(d, bson.E{Key: "c", Value: bson.D{{Key: "x", Value: pick()}}})
		}
		return d
	}
	var pred func(depth int) bson.D
	pred = func(depth int) bson.D {
		f := fields[r.IntN(len(fields))]
		switch n := r.IntN(8); {
		case n == 0 && depth < 2:
			return bson.D{{Key: "$or", Value: bson.A{pred(depth + 1), pred(depth + 1)}}}
		case n == 1 && depth < 2:
			return bson.D{{Key: "$and", Value: bson.A{pred(depth + 1), pred(depth + 1)}}}
		case n == 2:
			return bson.D{{Key: f, Value: pick()}}
		case n == 3:
			return bson.D{{Key: f, Value: bson.D{{Key: "$in", Value: bson.A{pick(), pick()}}}}}
		default:
			ops := []string{"$eq", "$gt", "$gte", "$lt", "$lte"}
			return bson.D{{Key: f, Value: bson.D{{Key: ops[r.IntN(len(ops))], Value: pick()}}}}
		}
	}
	decided, compiled := 0, 0
	for i := 0; i < 20000; i++ {
		filter, err := toDoc(pred(0))
		if err != nil {
			t.Fatal(err)
		}
		d, err := toDoc(doc())
		if err != nil {
			t.Fatal(err)
		}
		rf := compileRaw(filter)
		if rf == nil {
			continue
		}
		compiled++
		raw, _ := bson.Marshal(d)
		got, ok := rf.match(raw)
		if !ok {
			continue
		}
		decided++
		want, err := mongokit.Match(&d, &filter)
		if err != nil {
			continue
		}
		if got != want {
			t.Fatalf("filter %v on %v: raw matcher says %v, mongokit %v", filter, d, got, want)
		}
	}
	if decided < 5000 {
		t.Errorf("raw matcher decided only %d of %d compiled cases", decided, compiled)
	}
	t.Logf("compiled %d, decided %d", compiled, decided)
}
