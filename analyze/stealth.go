package analyze

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// Stealth scans (ATT&CK T1046): TCP probes with flags no stack sends to
// open a connection — none (NULL), FIN alone or with PSH and URG (FIN,
// Xmas) or with ACK (Maimon), SYN with FIN — or a bare ACK (an ACK scan,
// which maps firewall rules), answered by a reset or not at all. A
// handful of flag probes is a scan; bare ACKs also follow connections a
// firewall or NAT forgot, so ten distinct targets are needed for those.
// A source whose attempts also make an ordinary scan finding gets the
// probes as a fact of it instead of a finding of their own.

// Stealth-scan thresholds: distinct targets (host and port) probed.
const (
	stealthFlagTargets = 3
	stealthACKTargets  = 10
	// The state is bounded: sources tracked, and targets listed per source.
	maxStealthSources = 1 << 14
	maxStealthTargets = 64
)

// Kinds of stealth probe.
const (
	probeNULL = iota
	probeFIN  // FIN, Xmas (FIN, PSH, URG) and Maimon (FIN, ACK)
	probeSYNFIN
	probeACK
	probeKinds
)

var probeNames = [probeKinds]string{"NULL", "FIN/Xmas/Maimon", "SYN-FIN", "ACK"}

// stealthKind returns the kind of stealth probe a conversation is, from its
// history (originator letters upper case): at most two packets from the
// originator, none a SYN alone, a reset or data, and nothing from the
// responder but resets. A NULL probe must have been answered by a reset:
// packets whose TCP header the capture cut leave no letters either.
func stealthKind(c *flows.Conn) (int, bool) {
	if c.Proto != ipproto.TCP || !c.Captured() || c.OrigPkts == 0 || c.OrigPkts > 2 {
		return 0, false
	}
	h := c.History
	if strings.ContainsAny(h, "^SDRHhsdfaTt") {
		return 0, false
	}
	switch {
	case strings.ContainsRune(h, 'Q'):
		return probeSYNFIN, true
	case strings.ContainsRune(h, 'F'):
		return probeFIN, true
	case strings.ContainsRune(h, 'A'):
		return probeACK, true
	case strings.ContainsRune(h, 'r'):
		return probeNULL, true
	}
	return 0, false
}

// stealthAcc is the stealth probes of one source.
type stealthAcc struct {
	probes  [probeKinds]int
	targets []target // distinct, at most maxStealthTargets
	flag    int      // distinct targets of flag probes (not ACK)
	conns   []keptRef
}

type target struct {
	ip   netip.Addr
	port uint16
}

// probe counts a stealth probe of source c.Orig.
func (s *scanDetector) probe(d *detection, c *flows.Conn, kind int) {
	src := keyOf(c.Orig)
	a := s.stealth[src]
	if a == nil {
		if len(s.stealth) >= maxStealthSources {
			return
		}
		a = &stealthAcc{}
		s.stealth[src] = a
	}
	a.probes[kind]++
	t := target{c.Resp, c.RespPort}
	if len(a.targets) < maxStealthTargets && !slices.Contains(a.targets, t) {
		a.targets = append(a.targets, t)
		if kind != probeACK {
			a.flag++
		}
	}
	if len(a.conns) < 2*keptPerPair {
		a.conns = append(a.conns, d.keep(c))
	}
}

// stealthFindings makes a finding of each source whose stealth probes
// reached the thresholds, or adds them to its ordinary scan findings.
func (s *scanDetector) stealthFindings(d *detection) []*Finding {
	var out []*Finding
	for src, a := range s.stealth {
		if a.flag < stealthFlagTargets && len(a.targets) < stealthACKTargets {
			continue
		}
		var kinds []string
		for k, n := range a.probes {
			if n > 0 {
				kinds = append(kinds, fmt.Sprintf("%s %d", probeNames[k], n))
			}
		}
		fact := fmt.Sprintf("stealth probes (flags no connection opens with): %s, to %d target(s)", strings.Join(kinds, ", "), len(a.targets))
		ip := src.addr()
		joined := false
		for k, f := range s.found {
			if k.src == ip {
				f.Evidence.addFact(fact)
				f.Title += " with stealth probes"
				f.Why += fmt.Sprintf("; it also sent %s probes, with flags no stack opens a connection with", strings.Join(kindNames(a.probes), ", "))
				joined = true
			}
		}
		if joined {
			continue
		}
		f := d.findingFrom("scan", "T1046", a.conns, d.endpoint(ip, nil), Endpoint{})
		for _, t := range a.targets {
			if len(f.dsts) < maxEvidence*5 {
				f.dsts = append(f.dsts, d.endpoint(t.ip, port(t.port)))
			}
		}
		f.Evidence.addFact(fact)
		f.Count = a.probes[probeNULL] + a.probes[probeFIN] + a.probes[probeSYNFIN] + a.probes[probeACK]
		f.Score = 55 + min(20, len(a.targets))
		if !d.internal(ip) {
			f.Score += 10
		}
		f.Title = "stealth scan (" + strings.Join(kindNames(a.probes), ", ") + " probes)"
		f.Why = fmt.Sprintf("%s sent %d TCP probes with flags no stack opens a connection with to %d target(s): a stealth scan, which looks for open ports or firewall rules without completing a handshake", ip, f.Count, len(a.targets))
		out = append(out, f)
	}
	return out
}

// kindNames names the kinds of probe that were sent.
func kindNames(probes [probeKinds]int) []string {
	var names []string
	for k, n := range probes {
		if n > 0 {
			names = append(names, probeNames[k])
		}
	}
	return names
}
