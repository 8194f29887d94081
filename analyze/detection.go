package analyze

import (
	"cmp"
	"errors"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/internal/ipproto"
)

// DetectOptions tune the detectors; docs/findings.md explains each.
type DetectOptions struct {
	Since     time.Time  // the suspected compromise: activity after it weighs more
	Allowlist *Allowlist // known-good hosts, pairs and ports
	// A scan is failed attempts from one source to ScanHosts hosts on one
	// port, or to ScanPorts ports of one host, within ScanWindow; zero
	// values take the defaults (Zeek's).
	ScanHosts, ScanPorts int
	ScanWindow           time.Duration
	// Hosts, when set, is the part of the network drilled into (--host):
	// findings from the inventory alone (exposure) are made only for
	// addresses in it, as every other finding comes only from
	// conversations with one of them.
	Hosts []netip.Prefix
}

// A detector looks for one kind of behaviour: it observes every
// conversation and makes its findings once, at the end of the evidence.
// Each lives in a file of its own, with its thresholds and its test.
type detector interface {
	observe(d *detection, c *flows.Conn)
	findings(d *detection) []*Finding
}

// newDetectors returns one of each detector, in the order their findings
// are made: a detector may read the findings made before its own (inbound
// access reads brute force's). A new detector is one line here.
func newDetectors() []detector {
	return []detector{
		newLateralDetector(), newUnusualPortDetector(), newReconDetector(), newScanDetector(),
		newBruteForceDetector(), newInboundAccessDetector(), newBeaconDetector(),
		newLongConnectionDetector(), newExfiltrationDetector(), newDNSTunnelDetector(), newFloodDetector(),
		newExposureDetector(),
	}
}

// spilling is a detector whose state may spill to a temporary file, and
// so fail to be read back: Summary.Err reports it.
type spilling interface {
	err() error
}

// detection is one run of the detectors over the conversations of a
// Summary, and what they share: options, the evidence's time span, the
// hosts and their names, and the kept evidence.
type detection struct {
	opt         DetectOptions
	first, last int64         // the evidence's time span: every conversation's start
	perMinute   map[int64]int // conversations starting in each minute
	baseline    int64         // baselineEnd, once computed
	net         *Network
	hosts       *hostTable
	names       *names
	detectors   []detector
	made        []*Finding // the findings made so far, in the detectors' order
	jumps       int        // conversations in a row far past last (see advance)
	evidence    *evidenceStore
	// kept is where the conversation being observed was stored, once a
	// detector keeps it: it is stored once however many keep it.
	kept   keptRef
	isKept bool
	// The addresses of the conversation being observed, and whether each
	// is internal once a detector asked (internalKnown): the detectors
	// ask about the same two again and again.
	current       [2]netip.Addr
	isInternal    [2]bool
	internalKnown [2]bool
}

// keep stores the evidence fields of conversation c, the one being
// observed, for a finding that may be made at the end.
func (d *detection) keep(c *flows.Conn) keptRef {
	if !d.isKept {
		d.kept, d.isKept = d.evidence.put(c), true
	}
	return d.kept
}

func newDetection(opt DetectOptions, net *Network, n *names, hosts *hostTable) *detection {
	opt.ScanHosts = cmp.Or(opt.ScanHosts, DefaultScanHosts)
	opt.ScanPorts = cmp.Or(opt.ScanPorts, DefaultScanPorts)
	opt.ScanWindow = cmp.Or(opt.ScanWindow, DefaultScanWindow)
	d := &detection{opt: opt, net: net, names: n, hosts: hosts, first: math.MaxInt64, perMinute: map[int64]int{},
		evidence: newEvidenceStore(evidenceBuffer), detectors: newDetectors()}
	return d
}

// observe passes one conversation to the detectors that want it.
func (d *detection) observe(c *flows.Conn) {
	d.isKept = false
	d.first = min(d.first, c.TS)
	d.advance(c.TS)
	d.perMinute[c.TS/int64(time.Minute)]++
	orig, resp := c.Orig, c.Resp
	if _, ok := platform(orig); ok || orig.IsLoopback() {
		return
	}
	if _, ok := platform(resp); ok || resp.IsLoopback() {
		return
	}
	if d.opt.Allowlist.allows(orig, resp, c.Proto, c.RespPort) {
		return
	}
	d.learnVNet(c)
	d.current, d.internalKnown = [2]netip.Addr{orig, resp}, [2]bool{}
	for _, det := range d.detectors {
		det.observe(d, c)
	}
}

// learnVNet treats the NIC side of flow-logged connections as internal:
// flow logs only log the VNet's own NICs.
func (d *detection) learnVNet(c *flows.Conn) {
	if c.FlowLog == nil {
		return
	}
	nic := c.Orig
	if c.FlowLog.Direction == flows.Inbound {
		nic = c.Resp
	}
	d.net.learn(nic)
}

// findings collects every detector's findings and releases the kept
// evidence: it is called once, by Summary.Report, with the evidence's
// time span when the inputs give one (ok).
func (d *detection) findings(first, last int64, ok bool) []Finding {
	if ok {
		d.useSpan(first, last)
	}
	defer d.evidence.close()
	for _, det := range d.detectors {
		d.made = append(d.made, det.findings(d)...)
	}
	for _, f := range d.made {
		d.name(&f.Src)
		d.name(&f.Dst)
		for i := range f.dsts {
			d.name(&f.dsts[i])
		}
		for i := range f.Targets {
			d.name(&f.Targets[i])
		}
	}
	// Detectors make their findings from maps: in a total order, episodes
	// merge the same way every run.
	slices.SortFunc(d.made, func(a, b *Finding) int { return compareFindings(*a, *b) })
	return finish(mergeEpisodes(d.made))
}

// madeOf returns the findings of a kind made so far.
func (d *detection) madeOf(kind string) []*Finding {
	var out []*Finding
	for _, f := range d.made {
		if f.Kind == kind {
			out = append(out, f)
		}
	}
	return out
}

// err reports the state of a detector that could not be read back.
func (d *detection) err() error {
	errs := []error{d.evidence.err}
	for _, det := range d.detectors {
		if s, ok := det.(spilling); ok {
			errs = append(errs, s.err())
		}
	}
	return errors.Join(errs...)
}

func (d *detection) internal(a netip.Addr) bool {
	for i, addr := range d.current {
		if a == addr {
			if !d.internalKnown[i] {
				d.isInternal[i], d.internalKnown[i] = d.net.Internal(a), true
			}
			return d.isInternal[i]
		}
	}
	return d.net.Internal(a)
}

// endpoint describes an address (and port); findings names it at the end
// (see name).
func (d *detection) endpoint(a netip.Addr, p *uint16) Endpoint {
	class, _ := d.net.Classify(a)
	return Endpoint{IP: a, Port: p, Class: class}
}

// name gives an endpoint without a name its address's best name, once
// every conversation is observed: the names are learned beside the
// detectors (see Summary.observe), so they are read only at the end, with
// all the evidence behind them.
func (d *detection) name(e *Endpoint) {
	if e.Name == "" && e.IP.IsValid() {
		e.Name = d.names.best(e.IP)
	}
}

// afterSince reports whether t is after the suspected compromise.
func (d *detection) afterSince(t int64) bool {
	return !d.opt.Since.IsZero() && t >= d.opt.Since.UnixNano()
}

// sinceBonus raises a lateral finding that started after --since, and says so.
func (d *detection) sinceBonus(f *Finding) *Finding {
	if d.afterSince(f.first) {
		f.Score += 10
		f.Why += "; it started after --since"
	}
	return f
}

// advance moves the latest time seen, which ages windowed state, to ts.
// A time far past it (more than maxJump) is believed only once
// jumpTrust conversations in a row have been that far past it: one
// conversation with a clock far off must not age every window at once.
func (d *detection) advance(ts int64) {
	switch {
	case ts <= d.last:
		d.jumps = 0
	case d.last == 0 || ts-d.last <= int64(maxJump):
		d.last, d.jumps = ts, 0
	default:
		if d.jumps++; d.jumps >= jumpTrust {
			d.last, d.jumps = ts, 0
		}
	}
}

const (
	maxJump   = 24 * time.Hour
	jumpTrust = 64
)

// useSpan sets the evidence's time span as the inputs give it, with the
// records whose time was far off left out (package timespan), in place
// of the conversations' first and last: for the baseline, coverage and
// the time the explanations give.
func (d *detection) useSpan(first, last int64) {
	d.first, d.last = first, last
}

// baselineEnd is the end of the part of the evidence that says what is
// usual: the minute by which a quarter of its conversations had started
// (captures cover hours with gaps, flow logs days, so a quarter of the time
// could hold almost nothing), when the evidence spans at least
// minBaseline; activity that first appears later is new. ok is false for
// shorter evidence, which has no baseline to compare with.
func (d *detection) baselineEnd() (end int64, ok bool) {
	if d.first > d.last || d.last-d.first < int64(minBaseline) {
		return 0, false
	}
	if d.baseline == 0 {
		// Minutes outside the evidence's span hold conversations whose
		// clock was far off: no baseline.
		minutes := slices.DeleteFunc(slices.Sorted(maps.Keys(d.perMinute)), func(m int64) bool {
			return (m+1)*int64(time.Minute) <= d.first || m*int64(time.Minute) > d.last
		})
		seen, total := 0, 0
		for _, m := range minutes {
			total += d.perMinute[m]
		}
		for _, m := range minutes {
			seen += d.perMinute[m]
			if seen*4 >= total {
				d.baseline = (m + 1) * int64(time.Minute)
				break
			}
		}
	}
	return d.baseline, true
}

// clock writes a time for an explanation: the time of day in UTC when the
// evidence lies within one day, else the date too.
func (d *detection) clock(ns int64) string {
	t, first, last := time.Unix(0, ns).UTC(), time.Unix(0, d.first).UTC(), time.Unix(0, d.last).UTC()
	if first.YearDay() == last.YearDay() && first.Year() == last.Year() {
		return t.Format("15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// minBaseline is the shortest evidence that has a baseline.
const minBaseline = time.Hour

// established reports whether a conversation carried data both ways or was
// allowed and answered: not a failed attempt. A TCP conversation needs a
// SYN-ACK, or acknowledgements or data from both sides (one seen from its
// middle): a FIN, Xmas or Maimon probe answered by a reset is RSTR to
// Zeek's state machine, history "Fr", and no connection.
func established(c *flows.Conn) bool {
	switch c.ConnState {
	case "S0", "REJ", "RSTOS0", "RSTRH", "SH", "SHR", "OTH":
		if c.ConnState != "OTH" || c.OrigPkts == 0 || c.RespPkts == 0 {
			return false
		}
	}
	if c.Proto == ipproto.TCP && c.History != "" && !strings.ContainsAny(c.History, "hH") &&
		!(strings.ContainsAny(c.History, "AD") && strings.ContainsAny(c.History, "ad")) {
		return false
	}
	return !c.Denied()
}

// failed reports whether a conversation was an attempt that got no
// service: unanswered, rejected, or denied by the NSG.
func failed(c *flows.Conn) bool {
	if c.Denied() {
		return true
	}
	switch c.ConnState {
	case "S0", "REJ", "RSTOS0", "RSTRH":
		return c.Proto == ipproto.TCP
	}
	return false
}
