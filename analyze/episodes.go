package analyze

import (
	"fmt"
	"net/netip"
	"slices"
)

// mergeEpisodes joins the findings that are one episode: a network scan
// and the unusual-port findings of the same source on the hosts it
// scanned (the ports that answered it, and the denied attempts the flow
// logs show), so that a scan is one finding with all its reasons; and a
// pivot chain and the lateral-movement findings of its hops, each hop a
// key event of the chain; and password guessing between internal hosts
// and the lateral-movement finding of its sessions. Findings are kept in
// their order; those absorbed are left out.
func mergeEpisodes(fs []*Finding) []*Finding {
	return mergeHops(mergeGuessing(mergePortOnly(mergeScans(fs))))
}

// mergeGuessing makes a lateral-movement finding of the source, targets
// and port of a brute-force finding part of it: its sessions are the
// guesses the brute-force finding counts (and the login after them, which
// it names), the lateral-movement attempt it already says they are.
func mergeGuessing(fs []*Finding) []*Finding {
	var guessing []*Finding
	for _, f := range fs {
		if f.Kind == "brute_force" {
			guessing = append(guessing, f)
		}
	}
	return absorbInto(fs, func(f *Finding) (*Finding, string) {
		if f.Kind != "lateral_movement" || f.Dst.Port == nil {
			return nil, ""
		}
		for _, b := range guessing {
			if b.Src.IP == f.Src.IP && b.Dst.Port != nil && *b.Dst.Port == *f.Dst.Port && covers(targetsOf(b), targetsOf(f)) {
				b.Count -= f.Count // the same sessions: the guesses stay the count
				return b, ""
			}
		}
		return nil, ""
	})
}

// mergePortOnly makes a lateral-movement finding seen by port alone (the
// endpoint mapper's 135 before WMI or PsExec, RDP without payload beside
// RDP with) part of a finding the payload confirmed, of the same source,
// whose targets include all of its own.
func mergePortOnly(fs []*Finding) []*Finding {
	var confirmed []*Finding
	for _, f := range fs {
		if f.Kind == "lateral_movement" && !f.portOnly && f.hops == nil {
			confirmed = append(confirmed, f)
		}
	}
	return absorbInto(fs, func(f *Finding) (*Finding, string) {
		if f.Kind == "lateral_movement" && f.portOnly {
			for _, c := range confirmed {
				if c.Src.IP == f.Src.IP && covers(targetsOf(c), targetsOf(f)) {
					return c, ""
				}
			}
		}
		return nil, ""
	})
}

// covers reports whether every address of part is in all.
func covers(all, part []netip.Addr) bool {
	for _, a := range part {
		if !slices.Contains(all, a) {
			return false
		}
	}
	return true
}

// mergeHops makes the lateral-movement findings whose every target is a
// hop of a pivot chain part of the chain, each a key event of it.
func mergeHops(fs []*Finding) []*Finding {
	var pivots []*Finding
	for _, f := range fs {
		if f.hops != nil {
			pivots = append(pivots, f)
		}
	}
	return absorbInto(fs, func(f *Finding) (*Finding, string) {
		if f.Kind != "lateral_movement" || f.hops != nil {
			return nil, ""
		}
		into := pivotOf(pivots, f)
		if into != nil {
			into.Count -= len(targetsOf(f)) // the chain counted each hop's first connection already
		}
		return into, fmt.Sprintf("%s from %s", f.Title, f.Src.IP)
	})
}

// absorbInto makes each finding that home finds a finding for part of
// that finding (with a key event on the timeline when home names one),
// and returns the others, in their order.
func absorbInto(fs []*Finding, home func(f *Finding) (into *Finding, moment string)) []*Finding {
	out := fs[:0]
	for _, f := range fs {
		into, moment := home(f)
		if into == nil {
			out = append(out, f)
			continue
		}
		into.absorb(f, moment)
	}
	return out
}

// pivotOf returns the first pivot chain of which every pair of f is a hop.
func pivotOf(pivots []*Finding, f *Finding) *Finding {
	for _, p := range pivots {
		all := true
		for _, dst := range targetsOf(f) {
			if !slices.Contains(p.hops, [2]netip.Addr{f.Src.IP, dst}) {
				all = false
				break
			}
		}
		if all {
			return p
		}
	}
	return nil
}

// targetsOf returns the addresses a finding reached, each once.
func targetsOf(f *Finding) []netip.Addr {
	out := []netip.Addr{f.Dst.IP}
	for _, e := range f.dsts {
		if !slices.Contains(out, e.IP) {
			out = append(out, e.IP)
		}
	}
	return slices.DeleteFunc(out, func(a netip.Addr) bool { return !a.IsValid() })
}

// mergeScans makes the unusual-port findings of a scan's source on the
// hosts it scanned part of the scan.
func mergeScans(fs []*Finding) []*Finding {
	scans := map[netip.Addr][]*Finding{} // network scans by source
	for _, f := range fs {
		if f.Kind == "scan" && f.dsts != nil {
			scans[f.Src.IP] = append(scans[f.Src.IP], f)
		}
	}
	return absorbInto(fs, func(f *Finding) (*Finding, string) {
		if f.Kind != "unusual_port" {
			return nil, ""
		}
		srcs := f.srcs
		if srcs == nil {
			srcs = []netip.Addr{f.Src.IP}
		}
		for _, src := range srcs {
			if scanOf(scans, src, f) == nil {
				return nil, "" // a source that did not scan: the finding stands
			}
		}
		return scanOf(scans, f.Src.IP, f), ""
	})
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
// connections, targets, evidence, and why, as a fact. A moment, if given,
// names o's start as a key event of the episode on the timeline instead.
func (f *Finding) absorb(o *Finding, moment string) {
	f.Count += o.Count
	f.first, f.last = min(f.first, o.first), max(f.last, o.last)
	f.Score = max(f.Score, o.Score)
	if f.dsts != nil || o.dsts != nil || o.Dst.IP != f.Dst.IP {
		if f.dsts == nil {
			f.dsts = []Endpoint{f.Dst}
		}
		if o.Dst.IP.IsValid() {
			f.dsts = append(f.dsts, o.Dst)
		}
		f.dsts = append(f.dsts, o.dsts...)
	}
	if moment != "" {
		f.moments = append(f.moments, keyEvent{o.first, moment})
	} else {
		f.Evidence.addFact(fmt.Sprintf("%s: %s", o.Kind, o.Why))
	}
	f.Evidence.merge(&o.Evidence)
	f.moments = append(f.moments, o.moments...)
}
