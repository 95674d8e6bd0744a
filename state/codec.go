package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
	bolt "go.etcd.io/bbolt"
)

// binFormat is the first byte of a record in the binary encoding of schema
// v2. A schema v1 record is JSON and starts with '{'.
const binFormat = 0x02

// errCorrupt is wrapped by decode errors of binary records.
var errCorrupt = errors.New("corrupt record")

// binaryRecord is a record with a binary encoding. keys interns map keys
// (output names); it is nil for records without maps.
type binaryRecord interface {
	encode(e *encoder)
	decode(d *decoder)
}

// getRecord decodes the value under k into v, from either encoding; ok is
// false when k is absent.
func getRecord(b *bolt.Bucket, k []byte, v any, keys *keyTable) (bool, error) {
	recordTouched(b.Tx())
	raw := b.Get(k)
	if raw == nil {
		return false, nil
	}
	return true, decodeRecord(k, raw, v, keys)
}

func decodeRecord(k, raw []byte, v any, keys *keyTable) error {
	if br, ok := v.(binaryRecord); ok && len(raw) > 0 && raw[0] == binFormat {
		d := decoder{buf: raw[1:], keys: keys}
		br.decode(&d)
		if d.err == nil && len(d.buf) != 0 {
			d.err = fmt.Errorf("%d trailing bytes: %w", len(d.buf), errCorrupt)
		}
		if d.err != nil {
			return fmt.Errorf("decode record %q: %w", k, d.err)
		}
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("decode record %q: %w", k, err)
	}
	return nil
}

// putRecord stores v under k, in the binary encoding when v has one, unless
// the stored value is already the same bytes.
func putRecord(b *bolt.Bucket, k []byte, v any, keys *keyTable) error {
	_, err := putRecordChanged(b, k, v, keys)
	return err
}

// putRecordChanged is putRecord, reporting whether the stored bytes
// changed.
func putRecordChanged(b *bolt.Bucket, k []byte, v any, keys *keyTable) (bool, error) {
	recordTouched(b.Tx())
	var enc []byte
	if br, ok := v.(binaryRecord); ok {
		e := encoder{buf: []byte{binFormat}, keys: keys}
		br.encode(&e)
		enc = e.buf
	} else {
		var err error
		if enc, err = json.Marshal(v); err != nil {
			return false, fmt.Errorf("encode %q: %w", k, err)
		}
	}
	if old := b.Get(k); old != nil && bytes.Equal(old, enc) {
		return false, nil
	}
	return true, b.Put(k, enc)
}

// encoder appends the binary encoding: unsigned varints, length-prefixed
// strings, times as seconds and nanoseconds, decimals as their string form,
// maps as interned key numbers with values.
type encoder struct {
	buf  []byte
	keys *keyTable
}

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }

func (e *encoder) bool(v bool) {
	if v {
		e.buf = append(e.buf, 1)
	} else {
		e.buf = append(e.buf, 0)
	}
}

func (e *encoder) str(s string) {
	e.uvarint(uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) strs(ss []string) {
	e.uvarint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

// time writes 0 for the zero time, else 1, Unix seconds and nanoseconds, in
// UTC: every time the store keeps is UTC.
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.buf = binary.AppendVarint(e.buf, t.Unix())
	e.uvarint(uint64(t.Nanosecond()))
}

func (e *encoder) decimal(d decimal.Decimal) { e.str(d.String()) }

func (e *encoder) nullDecimal(d decimal.NullDecimal) {
	e.bool(d.Valid)
	if d.Valid {
		e.decimal(d.Decimal)
	}
}

// encodeMap writes m as its size, then each key's interned number and value,
// in ascending number order, so equal maps encode to equal bytes.
func encodeMap[V any](e *encoder, m map[string]V, put func(V)) {
	ns := make([]uint64, 0, len(m))
	for k := range m {
		ns = append(ns, e.keys.intern(k))
	}
	slices.Sort(ns)
	e.uvarint(uint64(len(ns)))
	for _, n := range ns {
		e.uvarint(n)
		put(m[e.keys.name(n)])
	}
}

// decoder reads what encoder wrote. The first problem sticks in err and
// every later read returns a zero value.
type decoder struct {
	buf  []byte
	keys *keyTable
	err  error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("bad %s: %w", what, errCorrupt)
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("number")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) bool() bool {
	if len(d.buf) == 0 || d.buf[0] > 1 {
		d.fail("flag")
		return false
	}
	v := d.buf[0] == 1
	d.buf = d.buf[1:]
	return v
}

// str copies the string out of the buffer (bolt memory).
func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail("string length")
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.buf)) { // every element takes at least one byte
		d.fail("count")
		return 0
	}
	return int(n)
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) time() time.Time {
	if !d.bool() {
		return time.Time{}
	}
	sec, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("time")
		return time.Time{}
	}
	d.buf = d.buf[n:]
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail("time")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) decimal() decimal.Decimal {
	s := d.str()
	if d.err != nil {
		return decimal.Zero
	}
	v, err := decimal.NewFromString(s)
	if err != nil {
		d.fail("decimal")
	}
	return v
}

func (d *decoder) nullDecimal() decimal.NullDecimal {
	if !d.bool() {
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: d.decimal(), Valid: d.err == nil}
}

func (d *decoder) key() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	k, ok := d.keys.lookup(n)
	if !ok {
		d.fail("map key number")
	}
	return k
}

// decodeMap reads what encodeMap wrote; an empty map decodes as nil.
func decodeMap[V any](d *decoder, get func() V) map[string]V {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]V, n)
	for range n {
		k := d.key()
		m[k] = get()
	}
	return m
}

// keyTable interns the keys of stored maps (output names such as
// "historical_revenue"), which would otherwise be repeated in every computed
// and written record. The table lives in meta/value_keys, one name per line,
// and only grows. A transaction that interns a new name saves the table
// before it commits (save), so no committed record can name a number the
// committed table lacks.
type keyTable struct {
	mu    sync.RWMutex
	names []string
	index map[string]uint64
	saved int // names persisted by the last committed save
}

var keyValueKeys = []byte("value_keys")

// loadKeyTable reads the table from meta.
func loadKeyTable(tx *bolt.Tx) (*keyTable, error) {
	t := &keyTable{index: map[string]uint64{}}
	raw := tx.Bucket(bucketMeta).Get(keyValueKeys)
	if len(raw) > 0 {
		for _, name := range strings.Split(string(raw), "\n") {
			if _, dup := t.index[name]; dup || name == "" {
				return nil, fmt.Errorf("meta/value_keys: bad or repeated name %q: %w", name, errCorrupt)
			}
			t.index[name] = uint64(len(t.names))
			t.names = append(t.names, name)
		}
	}
	t.saved = len(t.names)
	return t, nil
}

func (t *keyTable) intern(name string) uint64 {
	t.mu.RLock()
	n, ok := t.index[name]
	t.mu.RUnlock()
	if ok {
		return n
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n, ok := t.index[name]; ok {
		return n
	}
	n = uint64(len(t.names))
	t.index[name] = n
	t.names = append(t.names, name)
	return n
}

func (t *keyTable) name(n uint64) string {
	k, _ := t.lookup(n)
	return k
}

func (t *keyTable) lookup(n uint64) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if n >= uint64(len(t.names)) {
		return "", false
	}
	return t.names[n], true
}

// save writes the table into tx when it has names not yet saved. Names
// interned by a transaction that then failed are saved by the next one.
func (t *keyTable) save(tx *bolt.Tx) error {
	t.mu.RLock()
	n := len(t.names)
	unsaved := n > t.saved
	joined := strings.Join(t.names, "\n")
	t.mu.RUnlock()
	if !unsaved {
		return nil
	}
	if err := tx.Bucket(bucketMeta).Put(keyValueKeys, []byte(joined)); err != nil {
		return err
	}
	tx.OnCommit(func() {
		t.mu.Lock()
		t.saved = max(t.saved, n)
		t.mu.Unlock()
	})
	return nil
}

// The binary layouts, field by field in this order. Changing one needs a new
// format byte or schema version.

func (r *dealRecord) encode(e *encoder) {
	e.nullDecimal(r.Amount)
	e.str(r.Currency)
	e.nullDecimal(r.HomeAmount)
	e.time(r.CloseDate)
	e.time(r.CreatedAt)
	e.str(r.Stage)
	e.str(r.Pipeline)
	e.bool(r.Won)
	e.strs(r.ContactIDs)
	e.str(r.PrimaryContactID)
	e.strs(r.CompanyIDs)
	e.str(r.PrimaryCompanyID)
	e.time(r.ModifiedAt)
	e.strs(r.Warnings)
}

func (r *dealRecord) decode(d *decoder) {
	r.Amount = d.nullDecimal()
	r.Currency = d.str()
	r.HomeAmount = d.nullDecimal()
	r.CloseDate = d.time()
	r.CreatedAt = d.time()
	r.Stage = d.str()
	r.Pipeline = d.str()
	r.Won = d.bool()
	r.ContactIDs = d.strs()
	r.PrimaryContactID = d.str()
	r.CompanyIDs = d.strs()
	r.PrimaryCompanyID = d.str()
	r.ModifiedAt = d.time()
	r.Warnings = d.strs()
}

func (r *contactRecord) encode(e *encoder) {
	e.str(r.Email)
	e.str(r.Name)
	e.time(r.CreatedAt)
	e.str(r.Source)
	e.str(r.CompanyID)
	e.strs(r.MergedIDs)
	e.time(r.ModifiedAt)
	e.bool(r.Stub)
}

func (r *contactRecord) decode(d *decoder) {
	r.Email = d.str()
	r.Name = d.str()
	r.CreatedAt = d.time()
	r.Source = d.str()
	r.CompanyID = d.str()
	r.MergedIDs = d.strs()
	r.ModifiedAt = d.time()
	r.Stub = d.bool()
}

func (r *resultRecord) encode(e *encoder) {
	e.uvarint(r.RunID)
	encodeMap(e, r.Values, e.str)
	e.decimal(r.CLV)
	e.str(r.Tier)
	e.str(r.Segment)
}

func (r *resultRecord) decode(d *decoder) {
	r.RunID = d.uvarint()
	r.Values = decodeMap(d, d.str)
	r.CLV = d.decimal()
	r.Tier = d.str()
	r.Segment = d.str()
}

func (r *historyRecord) encode(e *encoder) {
	e.time(r.At)
	e.decimal(r.CLV)
	e.str(r.Tier)
	e.str(r.Segment)
}

func (r *historyRecord) decode(d *decoder) {
	r.At = d.time()
	r.CLV = d.decimal()
	r.Tier = d.str()
	r.Segment = d.str()
}

func (r *writtenRecord) encode(e *encoder) {
	encodeMap(e, r.Values, e.str)
	e.time(r.At)
	encodeMap(e, r.Since, e.time)
}

func (r *writtenRecord) decode(d *decoder) {
	r.Values = decodeMap(d, d.str)
	r.At = d.time()
	r.Since = decodeMap(d, d.time)
}

// validMapKeys checks the keys of a map about to be interned.
func validMapKeys[V any](what string, m map[string]V) error {
	for k := range m {
		if k == "" || strings.ContainsAny(k, "\n\x00") {
			return fmt.Errorf("%s key %q is empty or contains a newline or NUL: %w", what, k, ErrInvalidID)
		}
	}
	return nil
}
