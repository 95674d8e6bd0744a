package fakehub

import (
	"encoding/binary"
	"slices"
	"sort"
	"strconv"
	"time"
)

// objType is a CRM object type fakehub stores.
type objType int

const (
	typeContact objType = iota
	typeCompany
	typeDeal
	numTypes
)

var typeInfo = [numTypes]struct {
	plural, singular, upper, id string
}{
	typeContact: {"contacts", "contact", "CONTACT", "0-1"},
	typeCompany: {"companies", "company", "COMPANY", "0-2"},
	typeDeal:    {"deals", "deal", "DEAL", "0-3"},
}

func (t objType) String() string { return typeInfo[t].plural }

// parseObjType resolves an object type by name (plural or singular) or id.
func parseObjType(s string) (objType, bool) {
	for t := range numTypes {
		ti := typeInfo[t]
		if s == ti.plural || s == ti.singular || s == ti.id || s == ti.upper {
			return objType(t), true
		}
	}
	return 0, false
}

// edge is one association from the record holding it.
type edge struct {
	to      int64
	t       objType
	primary bool
}

// record is one CRM object. Properties are stored in a compact encoding
// (see encodeProps) so that 400k records stay well under 150 MB.
type record struct {
	id         int64
	created    int64 // ms
	updated    int64 // ms
	archivedAt int64 // ms; 0 when live
	mergedInto int64 // survivor id when merged away; the record is then gone
	props      string
	assoc      []edge
	idx        *indexed // what search still sees, while Config.SearchLag runs
}

// indexed is the version of a record search shows until the clock reaches
// until (epoch ms); exists is false for a record created since.
type indexed struct {
	props                           string
	updated, archivedAt, mergedInto int64
	exists                          bool
	until                           int64
}

func (r *record) live() bool { return r.archivedAt == 0 && r.mergedInto == 0 }

// objectStore holds the records of one type sorted by id (ids are handed
// out in increasing order, so appends keep it sorted).
type objectStore struct {
	recs []record
}

func (s *objectStore) find(id int64) *record {
	i := sort.Search(len(s.recs), func(i int) bool { return s.recs[i].id >= id })
	if i < len(s.recs) && s.recs[i].id == id {
		return &s.recs[i]
	}
	return nil
}

// findStr finds a record by its string id.
func (s *objectStore) findStr(id string) *record {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return nil
	}
	return s.find(n)
}

// Props encoding: a sequence of entries, each a 2-byte big-endian property
// index, a uvarint value length and the value bytes, sorted by index.

func getProp(enc string, idx int) (string, bool) {
	for i := 0; i < len(enc); {
		k := int(enc[i])<<8 | int(enc[i+1])
		n, w := binary.Uvarint([]byte(enc[i+2 : min(len(enc), i+12)]))
		start := i + 2 + w
		if k == idx {
			return enc[start : start+int(n)], true
		}
		i = start + int(n)
	}
	return "", false
}

type kv struct {
	k int
	v string
}

func decodeProps(enc string, dst []kv) []kv {
	for i := 0; i < len(enc); {
		k := int(enc[i])<<8 | int(enc[i+1])
		n, w := binary.Uvarint([]byte(enc[i+2 : min(len(enc), i+12)]))
		start := i + 2 + w
		dst = append(dst, kv{k, enc[start : start+int(n)]})
		i = start + int(n)
	}
	return dst
}

func encodeProps(kvs []kv) string {
	slices.SortFunc(kvs, func(a, b kv) int { return a.k - b.k })
	size := 0
	for _, e := range kvs {
		size += 2 + binary.MaxVarintLen64 + len(e.v)
	}
	b := make([]byte, 0, size)
	for _, e := range kvs {
		b = append(b, byte(e.k>>8), byte(e.k))
		b = binary.AppendUvarint(b, uint64(len(e.v)))
		b = append(b, e.v...)
	}
	return string(b)
}

// setProps merges updates into enc; an empty value clears the property.
func setProps(enc string, updates map[int]string) string {
	kvs := decodeProps(enc, make([]kv, 0, 16))
	out := kvs[:0]
	for _, e := range kvs {
		if _, ok := updates[e.k]; !ok {
			out = append(out, e)
		}
	}
	for k, v := range updates {
		if v != "" {
			out = append(out, kv{k, v})
		}
	}
	return encodeProps(out)
}

const isoMillis = "2006-01-02T15:04:05.000Z"

func fmtMS(ms int64) string { return time.UnixMilli(ms).UTC().Format(isoMillis) }

// parseTimeValue accepts epoch milliseconds or ISO 8601 (date or date-time).
func parseTimeValue(s string) (int64, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMilli(), true
		}
	}
	return 0, false
}
