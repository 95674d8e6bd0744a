package state

import (
	"path/filepath"
	"testing"
)

// Events accepted survive a reopen (a crash after the 2xx), duplicates are
// stored once, and applied ones are removed.
func TestEvents_DurableDedupedDeleted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := MustOpen(t, path, Options{})
	n, err := s.PutEvents([]PendingEvent{{Key: "0002·a", Body: []byte(`{"b":1}`)}, {Key: "0001·b", Body: []byte(`{"a":1}`)}, {Key: "0002·a", Body: []byte(`dup`)}})
	if err != nil || n != 2 {
		t.Fatalf("put: %d %v", n, err)
	}
	if n, _ := s.PutEvents([]PendingEvent{{Key: "0001·b", Body: []byte(`again`)}}); n != 0 {
		t.Errorf("a redelivered event was stored again")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = MustOpen(t, path, Options{})
	evs, err := s.PendingEvents(0)
	if err != nil || len(evs) != 2 || evs[0].Key != "0001·b" || string(evs[1].Body) != `{"b":1}` {
		t.Fatalf("after reopen: %+v %v", evs, err)
	}
	if err := s.DeleteEvents([]string{"0001·b"}); err != nil {
		t.Fatal(err)
	}
	if evs, _ := s.PendingEvents(0); len(evs) != 1 || evs[0].Key != "0002·a" {
		t.Errorf("after delete: %+v", evs)
	}
}
