package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestEvidenceSaysWhatItLeftOut: each list keeps maxEvidence values and
// counts the distinct ones it left out, whether they come one connection
// at a time or from another finding.
func TestEvidenceSaysWhatItLeftOut(t *testing.T) {
	var e Evidence
	for i := range 30 {
		c := conn("10.0.0.1", "10.0.0.2", uint16(1000+i), 445, time.Duration(i)*time.Second, 0)
		c.UID, c.CommunityID = fmt.Sprint("C", i), fmt.Sprint("1:", i)
		c.Files = []string{fmt.Sprintf("capture-%d.pcap", i%25)} // 25 distinct files, repeated
		e.add(c, "same fact", fmt.Sprint("fact ", i%22))
	}
	if len(e.UIDs) != maxEvidence || e.LeftOut.UIDs != 10 || e.LeftOut.CommunityIDs != 10 {
		t.Errorf("uids: %d kept, %d left out; want %d and 10", len(e.UIDs), e.LeftOut.UIDs, maxEvidence)
	}
	if len(e.Files) != maxEvidence || e.LeftOut.Files != 5 {
		t.Errorf("files: %d kept, %d left out; want %d and 5", len(e.Files), e.LeftOut.Files, maxEvidence)
	}
	if len(e.Facts) != maxEvidence || e.LeftOut.Facts != 3 { // 23 distinct facts
		t.Errorf("facts: %d kept, %d left out; want %d and 3", len(e.Facts), e.LeftOut.Facts, maxEvidence)
	}
	var m Evidence
	m.merge(&e)
	m.merge(&e)                                                                  // the same values again: nothing more left out but the uids
	if m.LeftOut.Files != 5 || m.LeftOut.Facts != 3 || m.LeftOut.UIDs != 10+10 { // uids are counted by connection: each merge adds its own
		t.Errorf("merged: %+v", m.LeftOut)
	}
}

// TestTargetsListEachAddressOnce: a finding's targets name each address
// once, with its ports in order, and its main target is the first reached.
func TestTargetsListEachAddressOnce(t *testing.T) {
	f := &Finding{}
	for _, hp := range []struct {
		ip   string
		port uint16
	}{{"10.0.0.9", 22}, {"10.0.0.3", 445}, {"10.0.0.9", 22}, {"10.0.0.9", 3389}, {"10.0.0.3", 135}} {
		f.dsts = append(f.dsts, Endpoint{IP: netip.MustParseAddr(hp.ip), Port: port(hp.port)})
	}
	out := finish([]*Finding{f})[0]
	if out.Dst.IP != netip.MustParseAddr("10.0.0.9") || *out.Dst.Port != 22 {
		t.Errorf("main target %+v, want the first reached", out.Dst)
	}
	if len(out.Targets) != 2 || !slices.Equal(out.Targets[0].Ports, []uint16{135, 445}) || !slices.Equal(out.Targets[1].Ports, []uint16{22, 3389}) {
		t.Errorf("targets %+v", out.Targets)
	}
}
