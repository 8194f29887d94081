package record

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"unsafe"
)

func TestRoundTrip(t *testing.T) {
	b := binary.AppendVarint(nil, -5)
	b = binary.AppendUvarint(b, 300)
	b = AppendStrings(b, "", "héllo")
	b = AppendList(b, nil)
	b = AppendList(b, []string{})
	b = AppendList(b, []string{"a", "bc"})
	b = AppendAddr(b, netip.Addr{})
	b = AppendAddr(b, netip.MustParseAddr("fe80::1%eth0"))
	b = AppendBool(b, true)
	b = binary.LittleEndian.AppendUint64(b, 1<<60)

	d := NewDecoder(b)
	got := []any{d.Varint(), d.Uvarint(), d.Text(), d.Text(), d.List(), d.List(), d.List(), d.Addr(), d.Addr(), d.Bool(), d.Fixed64()}
	want := []any{int64(-5), uint64(300), "", "héllo", []string(nil), []string{}, []string{"a", "bc"},
		netip.Addr{}, netip.MustParseAddr("fe80::1%eth0"), true, uint64(1 << 60)}
	if err := d.End(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %v, %v; want %v", got, err, want)
	}
	for cut := range len(b) { // cut short anywhere: an error and zero values, no panic
		d := NewDecoder(b[:cut])
		for range 11 {
			d.Varint()
			d.Uvarint()
			d.Text()
			d.List()
			d.Addr()
			d.Fixed64()
		}
		if d.End() == nil {
			t.Fatalf("cut at %d of %d bytes: no error", cut, len(b))
		}
	}
	if err := NewDecoder(append(b, 0)).End(); err == nil {
		t.Error("a byte left over: no error")
	}
}

// TestShared: with a table, a string that repeats is one string; the table
// stops growing at maxShared; without one, Shared is Text.
func TestShared(t *testing.T) {
	var b []byte
	for i := range maxShared + 10 {
		b = AppendStrings(b, "allow", fmt.Sprint("rule-", i))
	}
	table := map[string]string{}
	d := NewDecoder(b)
	d.ShareStrings(table)
	first := d.Shared()
	for range maxShared + 10 - 1 {
		d.Shared()
		if s := d.Shared(); s != "allow" || unsafe.StringData(s) != unsafe.StringData(first) {
			t.Fatalf("a repeated string is not shared: %q", s)
		}
	}
	d.Shared()
	if err := d.End(); err != nil || len(table) != maxShared {
		t.Errorf("end %v, table of %d strings; want no error and %d", err, len(table), maxShared)
	}
	if s := NewDecoder(AppendStrings(nil, "x")).Shared(); s != "x" {
		t.Errorf("without a table: %q", s)
	}
}
