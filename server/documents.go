package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/256dpi/lungo"
	"github.com/annalsdb/annals/projections"
	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Query parameters of the documents endpoints that are not filters.
var documentParams = map[string]bool{"sort": true, "limit": true, "cursor": true, "collection": true}

// fieldName is what a filter or sort may name: dotted paths of plain
// identifiers. Nothing that starts with '$' or holds an operator passes.
var fieldName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63}){0,7}$`)

// operators are the comparisons a filter may use: field[op]=value.
var operators = map[string]string{"eq": "$eq", "ne": "$ne", "gt": "$gt", "gte": "$gte", "lt": "$lt", "lte": "$lte"}

const maxFilters = 20

// documentQuery is a parsed, whitelisted read-model query.
type documentQuery struct {
	filter bson.D
	sort   string // field; "" is _id
	desc   bool
	limit  int64
	after  *pageCursor
	// scope names the listing, so that a cursor is only good for the
	// listing that issued it.
	scope string
}

// parseDocumentQuery turns query parameters into a filter built only from
// whitelisted fields, operators and scalar values: user input never
// becomes a MongoDB operator or a nested document.
func (s *Server) parseDocumentQuery(c echo.Context, scope string) (documentQuery, error) {
	q := documentQuery{limit: DefaultPageSize, scope: scope}
	params := c.QueryParams()
	n := 0
	for key, vs := range params {
		if len(vs) != 1 {
			return q, badRequest("query parameter %q is given %d times", key, len(vs))
		}
		if documentParams[key] {
			continue
		}
		field, op := key, "eq"
		if i := strings.IndexByte(key, '['); i >= 0 {
			if !strings.HasSuffix(key, "]") {
				return q, badRequest("filter %q must look like field[op]=value", key)
			}
			field, op = key[:i], key[i+1:len(key)-1]
		}
		mop, ok := operators[op]
		if !ok {
			return q, badRequest("filter %q: operator %q is not one of eq, ne, gt, gte, lt, lte", key, op)
		}
		if !fieldName.MatchString(field) {
			return q, badRequest("filter %q: %q is not a field name (letters, digits, '_', '-', dotted paths)", key, field)
		}
		if n++; n > maxFilters {
			return q, badRequest("more than %d filters", maxFilters)
		}
		v, err := scalar(vs[0])
		if err != nil {
			return q, badRequest("filter %q: %v", key, err)
		}
		q.filter = append(q.filter, bson.E{Key: field, Value: bson.D{{Key: mop, Value: v}}})
	}
	if sortBy := c.QueryParam("sort"); sortBy != "" {
		q.desc = strings.HasPrefix(sortBy, "-")
		q.sort = strings.TrimPrefix(sortBy, "-")
		if !fieldName.MatchString(q.sort) {
			return q, badRequest("sort %q is not a field name, optionally prefixed with '-'", sortBy)
		}
		if q.sort == "_id" {
			q.sort = ""
		}
	}
	return q, s.page(c, &q, c.QueryParam("sort"), "the cursor belongs to another sort order")
}

// documentsScope names a projection collection's listing for cursors.
func documentsScope(projection, collection string) string {
	return "documents\x00" + projection + "\x00" + collection
}

const streamsScope = "streams"

// page reads limit= and cursor= into q. A cursor must have been issued for
// the same sort field (sortParam), or the request is refused with
// mismatch.
func (s *Server) page(c echo.Context, q *documentQuery, sortParam, mismatch string) error {
	limit, err := intParam(c, "limit", 1, int64(s.opts.MaxPageSize))
	if err != nil {
		return err
	}
	if limit > 0 {
		q.limit = limit
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		key, err := s.keys.get(c.Request().Context(), s.store.Database())
		if err != nil {
			return err
		}
		pc, err := decodeCursor(key, q.scope, cur)
		if err != nil {
			return err
		}
		if pc.Field != sortParam {
			return badRequest("%s", mismatch)
		}
		q.after = &pc
	}
	return nil
}

// scalar reads a filter value: a JSON number, true, false, null or a
// quoted string; anything else is taken as a plain string. JSON objects
// and arrays are refused, so no operator can hide in a value.
func scalar(v string) (any, error) {
	t := strings.TrimSpace(v)
	if t == "" {
		return v, nil
	}
	switch t[0] {
	case '{', '[':
		return nil, errBadValue
	case '"':
		var s string
		if err := json.Unmarshal([]byte(t), &s); err != nil {
			return nil, errBadValue
		}
		return s, nil
	}
	switch t {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		return i, nil
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && strings.ContainsAny(t, "0123456789") && !strings.ContainsAny(t, "xXpP_") {
		return f, nil
	}
	return v, nil
}

var errBadValue = badRequest("values must be numbers, true, false, null or strings (quote them to keep digits as text); objects and arrays are not allowed")

// find runs a document query on a collection and returns one page.
func (s *Server) find(c echo.Context, coll lungo.ICollection, q documentQuery) (docs []json.RawMessage, next string, err error) {
	ctx := c.Request().Context()
	dir := 1
	if q.desc {
		dir = -1
	}
	filter := q.filter
	if q.after != nil {
		page, err := q.after.filter(q.sort, dir)
		if err != nil {
			return nil, "", err
		}
		filter = append(filter, page...)
	}
	sort := bson.D{{Key: "_id", Value: dir}}
	if q.sort != "" {
		sort = append(bson.D{{Key: q.sort, Value: dir}}, sort...)
	}
	if filter == nil {
		filter = bson.D{}
	}
	cur, err := coll.Find(ctx, filter, options.Find().SetSort(sort).SetLimit(q.limit+1))
	if err != nil {
		return nil, "", err
	}
	defer cur.Close(ctx)
	var raws []bson.Raw
	for cur.Next(ctx) {
		var raw bson.Raw
		if err := cur.Decode(&raw); err != nil {
			return nil, "", err
		}
		raws = append(raws, raw)
	}
	if err := cur.Err(); err != nil {
		return nil, "", err
	}
	docs = []json.RawMessage{}
	for i, raw := range raws {
		if int64(i) == q.limit {
			last := raws[i-1]
			pc := pageCursor{Field: c.QueryParam("sort")}
			if pc.ID, err = valueJSON(last.Lookup("_id")); err != nil {
				return nil, "", err
			}
			if q.sort != "" {
				if pc.Sort, err = valueJSON(last.Lookup(strings.Split(q.sort, ".")...)); err != nil {
					return nil, "", err
				}
			}
			key, err := s.keys.get(ctx, s.store.Database())
			if err != nil {
				return nil, "", err
			}
			if next, err = pc.encode(key, q.scope); err != nil {
				return nil, "", err
			}
			break
		}
		j, err := renderDocument(raw)
		if err != nil {
			return nil, "", err
		}
		docs = append(docs, j)
	}
	return docs, next, nil
}

// filter is the condition for documents after the cursor in sort order.
func (p pageCursor) filter(sortField string, dir int) (bson.D, error) {
	op := "$gt"
	if dir < 0 {
		op = "$lt"
	}
	id, err := valueOf(p.ID)
	if err != nil {
		return nil, err
	}
	if sortField == "" {
		return bson.D{{Key: "_id", Value: bson.D{{Key: op, Value: id}}}}, nil
	}
	sv, err := valueOf(p.Sort)
	if err != nil {
		return nil, err
	}
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: sortField, Value: bson.D{{Key: op, Value: sv}}}},
		// $eq, not {field: value}: a cursor is client input, and a bare
		// document value whose keys start with '$' would be an operator.
		bson.D{{Key: sortField, Value: bson.D{{Key: "$eq", Value: sv}}}, {Key: "_id", Value: bson.D{{Key: op, Value: id}}}},
	}}}, nil
}

// documentsResponse is a page of read-model documents.
type documentsResponse struct {
	Documents  []json.RawMessage `json:"documents"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

func (s *Server) listDocuments(c echo.Context) error {
	coll, err := s.runner.Collection(c.Request().Context(), c.Param("name"), c.QueryParam("collection"))
	if err != nil {
		return err
	}
	q, err := s.parseDocumentQuery(c, documentsScope(c.Param("name"), c.QueryParam("collection")))
	if err != nil {
		return err
	}
	docs, next, err := s.find(c, coll, q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, documentsResponse{Documents: docs, NextCursor: next})
}

// getDocument finds one document by _id: the path segment as a string,
// or as the number or ObjectID it spells.
func (s *Server) getDocument(c echo.Context) error {
	if err := checkParams(c, "collection"); err != nil {
		return err
	}
	coll, err := s.runner.Collection(c.Request().Context(), c.Param("name"), c.QueryParam("collection"))
	if err != nil {
		return err
	}
	id := c.Param("doc")
	candidates := bson.A{id}
	if n, err := strconv.ParseInt(id, 10, 64); err == nil {
		candidates = append(candidates, n)
	}
	if oid, err := primitive.ObjectIDFromHex(id); err == nil {
		candidates = append(candidates, oid)
	}
	var raw bson.Raw
	err = coll.FindOne(c.Request().Context(), bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: candidates}}}}).Decode(&raw)
	if err != nil {
		if isNoDocuments(err) {
			return wrapf(errNotFound, "no document %q in %s", id, c.Param("name"))
		}
		return err
	}
	j, err := renderDocument(raw)
	if err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, j)
}

// listStreams pages through the built-in streams projection.
func (s *Server) listStreams(c echo.Context) error {
	if err := checkParams(c, "aggregate_type", "limit", "cursor"); err != nil {
		return err
	}
	coll, err := s.runner.Collection(c.Request().Context(), projections.StreamsProjection, "")
	if errors.Is(err, projections.ErrUnknownProjection) {
		return wrapf(errNotFound, "stream listing needs the built-in streams projection, which this server does not run")
	}
	if err != nil {
		return err
	}
	q := documentQuery{limit: DefaultPageSize, scope: streamsScope}
	if t := c.QueryParam("aggregate_type"); t != "" {
		q.filter = bson.D{{Key: "aggregate_type", Value: t}}
	}
	if err := s.page(c, &q, "", "the cursor belongs to another listing"); err != nil {
		return err
	}
	docs, next, err := s.find(c, coll, q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, struct {
		Streams    []json.RawMessage `json:"streams"`
		NextCursor string            `json:"next_cursor,omitempty"`
	}{docs, next})
}
