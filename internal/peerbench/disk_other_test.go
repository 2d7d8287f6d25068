//go:build !unix

package peerbench

import "io/fs"

// allocated is the space a file takes on disk; without the blocks Unix
// reports, its length.
func allocated(info fs.FileInfo) int64 { return info.Size() }
