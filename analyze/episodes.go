package analyze

import (
	"fmt"
	"net/netip"
	"slices"
)

// mergeEpisodes joins the findings of different detectors that are one
// episode: a network scan and the unusual-port findings of the same source
// on the hosts it scanned (the ports that answered it, and the denied
// attempts the flow logs show), so that a scan is one finding with all its
// reasons. Findings are kept in their order; those absorbed are left out.
func mergeEpisodes(fs []*Finding) []*Finding {
	scans := map[netip.Addr][]*Finding{} // network scans by source
	for _, f := range fs {
		if f.Kind == "scan" && f.dsts != nil {
			scans[f.Src.IP] = append(scans[f.Src.IP], f)
		}
	}
	if len(scans) == 0 {
		return fs
	}
	out := fs[:0]
	for _, f := range fs {
		if f.Kind != "unusual_port" {
			out = append(out, f)
			continue
		}
		srcs := f.srcs
		if srcs == nil {
			srcs = []netip.Addr{f.Src.IP}
		}
		into := scanOf(scans, f.Src.IP, f)
		for _, src := range srcs {
			if scanOf(scans, src, f) == nil {
				into = nil // a source that did not scan: the finding stands
				break
			}
		}
		if into == nil {
			out = append(out, f)
			continue
		}
		into.absorb(f)
	}
	return out
}

// scanOf returns the scan by src whose targets include every host of f.
func scanOf(scans map[netip.Addr][]*Finding, src netip.Addr, f *Finding) *Finding {
	hosts := []netip.Addr{f.Dst.IP}
	for _, e := range f.dsts {
		hosts = append(hosts, e.IP)
	}
	for _, s := range scans[src] {
		covered := true
		for _, h := range hosts {
			if h.IsValid() && !slices.ContainsFunc(s.dsts, func(e Endpoint) bool { return e.IP == h }) {
				covered = false
				break
			}
		}
		if covered {
			return s
		}
	}
	return nil
}

// absorb makes another finding of the same episode part of f: its
// connections, targets, evidence, and why, as a fact.
func (f *Finding) absorb(o *Finding) {
	f.Count += o.Count
	f.first, f.last = min(f.first, o.first), max(f.last, o.last)
	f.Score = max(f.Score, o.Score)
	if o.Dst.IP.IsValid() {
		f.dsts = append(f.dsts, o.Dst)
	}
	f.dsts = append(f.dsts, o.dsts...)
	f.Evidence.addFact(fmt.Sprintf("%s: %s", o.Kind, o.Why))
	f.Evidence.merge(&o.Evidence)
}
