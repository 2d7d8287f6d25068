// Package mongotest opens annals stores for tests: on a real MongoDB replica
// set when one is available, on the embedded engine otherwise. It serves
// annals' own tests and the tests of applications built on annals.
//
// The shortest use, in a test:
//
//	func TestDeposit(t *testing.T) {
//		store := mongotest.Open(t)
//		// append to and load from store; it is closed when the test ends
//	}
//
// # Where MongoDB comes from
//
// A real MongoDB replica set is found, once per test binary, in this order:
//
//  1. When a Docker engine answers, testcontainers starts a one-node
//     replica set (image mongo:8, set rs0). Every test of the binary shares
//     it, each in its own database; testcontainers' reaper (Ryuk) removes
//     the container when the binary exits.
//  2. Otherwise, the deployment named by the ANNALS_TEST_MONGODB_URI
//     environment variable, e.g.
//     ANNALS_TEST_MONGODB_URI='mongodb://localhost:27017/?replicaSet=rs0'
//     with the replica set of the repository's docker-compose.yml.
//
// Asking Docker takes milliseconds when no engine runs and never more than
// a few seconds. MongoURI reports the URI found, or why there is none.
//
// # Which helper
//
// Open always returns a store: on MongoDB when one is found, on the embedded
// engine (memory:) otherwise, and logs which one it uses. Use it for tests
// that must pass on every engine. OpenMongo returns a store on MongoDB only
// and skips the test, saying why, when there is none; use it for behaviour
// only MongoDB has (write conflicts, lost change stream history, the real
// driver's errors).
//
// On MongoDB each store gets a fresh database named annals_test_<random>,
// dropped when the test ends, so tests may run in parallel against one
// deployment.
package mongotest
