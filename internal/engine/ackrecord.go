package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// AckFile is the file in a store directory that records the last commit
// the engine acknowledged. Pebble cannot tell damage in the last block of
// its log, or a log truncated or deleted whole, from a write torn by a
// crash: replay stops there without an error and the commits after it are
// gone. The record says how far replay must get: a store that recovers to
// an earlier commit has lost acknowledged commits and is refused.
//
// It holds two slots of 16 bytes, written in turn after each group of
// commits is synced (a write to the OS, not a sync of its own: the commits
// it names are synced already, so the record never claims more than the
// log holds, and it survives a killed process). Each slot is the cluster
// time and a CRC; the newest valid slot counts. Close syncs it.
const AckFile = "ANNALS-ACKED"

const ackSlot = 16

var ackTable = crc32.MakeTable(crc32.Castagnoli)

// ackRecord keeps the record. Its methods are called under Engine.mu.
type ackRecord struct {
	f    vfs.File
	next int // the slot to write next
}

// openAckRecord opens (or creates) the record and returns the last
// acknowledged cluster time it holds (0 for a new record).
func openAckRecord(fs vfs.FS, dir string) (*ackRecord, uint64, error) {
	name := fs.PathJoin(dir, AckFile)
	var acked uint64
	f, err := fs.OpenReadWrite(name, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, 0, fmt.Errorf("engine: open %s: %w", name, err)
	}
	buf := make([]byte, 2*ackSlot)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, 0, fmt.Errorf("engine: read %s: %w", name, err)
	}
	r := &ackRecord{f: f}
	if n > 0 {
		valid := false
		for slot := 0; slot < 2; slot++ {
			b := buf[slot*ackSlot : (slot+1)*ackSlot]
			if (slot+1)*ackSlot > n {
				continue
			}
			ts := binary.BigEndian.Uint64(b)
			if crc32.Checksum(b[:8], ackTable) != binary.BigEndian.Uint32(b[8:]) || binary.BigEndian.Uint32(b[12:]) != ackMagic {
				continue
			}
			valid = true
			if ts >= acked {
				acked, r.next = ts, 1-slot
			}
		}
		if !valid {
			f.Close()
			return nil, 0, fmt.Errorf("%w: %s: the record of acknowledged commits is damaged; restore the store from a backup", ErrCorrupt, name)
		}
	}
	return r, acked, nil
}

const ackMagic = 0x616e6e61 // "anna"

// readAckRecord reads the record without creating or changing it (0 when
// there is none).
func readAckRecord(fs vfs.FS, dir string) (uint64, error) {
	if _, err := fs.Stat(fs.PathJoin(dir, AckFile)); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	r, acked, err := openAckRecord(fs, dir)
	if r != nil {
		r.f.Close()
	}
	return acked, err
}

// write records ts as acknowledged.
func (r *ackRecord) write(ts uint64) error {
	var b [ackSlot]byte
	binary.BigEndian.PutUint64(b[:], ts)
	binary.BigEndian.PutUint32(b[8:], crc32.Checksum(b[:8], ackTable))
	binary.BigEndian.PutUint32(b[12:], ackMagic)
	if _, err := r.f.WriteAt(b[:], int64(r.next*ackSlot)); err != nil {
		return err
	}
	r.next = 1 - r.next
	return nil
}

// close syncs and closes the record.
func (r *ackRecord) close() error {
	return errors.Join(r.f.Sync(), r.f.Close())
}
