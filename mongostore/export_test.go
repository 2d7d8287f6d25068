package mongostore

import "go.mongodb.org/mongo-driver/bson"

// ScanFilter and ScanSort are the filter and sort of a scan page, for the
// MongoDB tests that explain it.
func ScanFilter(q ScanQuery) bson.D { return q.filter() }

// ScanSort is the order of a scan.
var ScanSort = scanSort
