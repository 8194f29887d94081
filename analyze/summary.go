package analyze

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"net/netip"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/netfx/netfx/flows"
	"github.com/netfx/netfx/ingest"
	"github.com/netfx/netfx/internal/ipproto"
	"github.com/netfx/netfx/internal/record"
	"github.com/netfx/netfx/internal/timefmt"
	"github.com/netfx/netfx/inventory"
	"github.com/netfx/netfx/pcapread"
)

// Report is the result of an analysis, ready for rendering. Its JSON form is
// documented in docs/report-json.md.
type Report struct {
	SchemaVersion   string         `json:"schema_version"`
	Findings        []Finding      `json:"findings"` // most severe first; docs/findings.md
	Inputs          []Input        `json:"inputs"`
	Gaps            []Gap          `json:"gaps"`
	Totals          Totals         `json:"totals"`
	Timeline        []Event        `json:"timeline"` // the findings above low severity, in time order
	Series          []SeriesBin    `json:"series"`   // connections and bytes over the evidence's span, in at most 120 intervals
	TopHostsByBytes []HostStat     `json:"top_hosts_by_bytes"`
	TopHostsByConns []HostStat     `json:"top_hosts_by_conns"`
	TopPairsByBytes []PairStat     `json:"top_pairs_by_bytes"`
	TopPairsByConns []PairStat     `json:"top_pairs_by_conns"`
	TopPorts        []PortStat     `json:"top_ports"`
	FlowLogs        *FlowLogReport `json:"flow_logs,omitempty"`
	ConnLogs        []ConnLogInput `json:"conn_logs,omitempty"`      // conversation logs read, when any
	Names           []NameSet      `json:"names"`                    // names of addresses, from DNS answers, TLS server names and HTTP Host headers; the busiest addresses first
	NamesLeftOut    int            `json:"names_left_out,omitempty"` // names of addresses past the bound on the addresses named
	// Inventory lists the Azure inventory files read; AzureHosts the
	// addresses they name that the evidence saw, the busiest first.
	Inventory  []InventoryInput `json:"inventory,omitempty"`
	AzureHosts []AzureHost      `json:"azure_hosts,omitempty"`
	// Analytics lists the Log Analytics exports read (Traffic Analytics,
	// VM Insights).
	Analytics []AnalyticsInput `json:"analytics,omitempty"`
}

// ReportSchemaVersion is the version of Report's JSON form.
const ReportSchemaVersion = "3"

// Input describes one capture file as read.
type Input struct {
	File      string   `json:"file"`
	Size      int64    `json:"size"` // of the file, in bytes; -1 for a stream
	Format    string   `json:"format"`
	LinkTypes []string `json:"link_types"`
	Packets   int64    `json:"packets"`
	Bytes     int64    `json:"bytes"`
	First     string   `json:"first,omitempty"` // RFC 3339, UTC
	Last      string   `json:"last,omitempty"`
	NonIP     int64    `json:"non_ip_packets"`
	Undecoded int64    `json:"undecoded_frames,omitempty"` // frames of link types netfx does not decode
	Truncated int64    `json:"truncated_packets"`
	Fragments int64    `json:"ip_fragments"`
	// FragmentsIncomplete counts the fragments that completed no datagram:
	// timed out, past the reassembly's bounds, or cut off by the
	// capture's start or end (a flood of fragments, or capture loss).
	FragmentsIncomplete int64  `json:"ip_fragments_incomplete,omitempty"`
	Damage              string `json:"damage,omitempty"` // why reading stopped early
	SHA256              string `json:"sha256,omitempty"`
	// EndedEarly counts the conversations ended early, under memory
	// pressure, while this capture was read (see --max-live).
	EndedEarly int64 `json:"ended_early,omitempty"`

	first, last int64
}

// Gap is time between consecutive captures in which no capture ran.
type Gap struct {
	After   string  `json:"after"`  // the capture that ended
	Before  string  `json:"before"` // the capture that started next
	Start   string  `json:"start"`
	End     string  `json:"end"`
	Seconds float64 `json:"seconds"`
}

// Totals counts everything read.
type Totals struct {
	Files          int   `json:"files"` // capture files
	FlowLogFiles   int   `json:"flow_log_files"`
	ConnLogFiles   int   `json:"conn_log_files"`
	InventoryFiles int   `json:"inventory_files"`
	AnalyticsFiles int   `json:"analytics_files"`
	DamagedFiles   int   `json:"damaged_files"` // of every kind
	Packets        int64 `json:"packets"`
	Bytes          int64 `json:"bytes"` // of the captures
	// FragmentsIncomplete counts the captures' IP fragments that completed
	// no datagram (Input.FragmentsIncomplete).
	FragmentsIncomplete int64  `json:"ip_fragments_incomplete,omitempty"`
	Conversations       uint64 `json:"conversations"`
	Hosts               int    `json:"hosts"`
	// Past 1,048,576 hosts, hosts seen only in unanswered or failed
	// conversations (a flood's spoofed sources) are counted, not kept:
	// they and those conversations are left out of the host, pair and
	// port tables. The count is an estimate (±1 %) past 4,096 of them.
	HostsLeftOut          int    `json:"hosts_left_out,omitempty"`
	HostsLeftOutEstimated bool   `json:"hosts_left_out_estimated,omitempty"`
	ConversationsLeftOut  uint64 `json:"conversations_left_out,omitempty"`
	// The time span of all the evidence: captures, flow logs and
	// conversation logs.
	First       string  `json:"first,omitempty"`
	Last        string  `json:"last,omitempty"`
	SpanSeconds float64 `json:"span_seconds"`
	// How much of it some capture covered: the first and last packet, and
	// the time a capture ran, gaps between captures left out.
	CaptureFirst   string  `json:"capture_first,omitempty"`
	CaptureLast    string  `json:"capture_last,omitempty"`
	CaptureSeconds float64 `json:"capture_seconds"`
}

// Event is one finding on the timeline of the evidence.
type Event struct {
	Time    string   `json:"time"`    // RFC 3339, UTC: the finding's first_seen
	Finding int      `json:"finding"` // its index in findings
	Kind    string   `json:"kind"`
	Title   string   `json:"title"`
	Src     Endpoint `json:"src"`
	Dst     Endpoint `json:"dst"`
	// Source says what showed it: capture, flowlog or both; InGap that no
	// capture ran at that moment.
	Source string `json:"source"`
	InGap  bool   `json:"in_capture_gap"`

	at int64
}

// HostStat is one host's traffic, both directions.
type HostStat struct {
	IP            netip.Addr `json:"ip"`
	Name          string     `json:"name,omitempty"` // the Azure inventory's name for it (VM, NIC, public IP), else its most used name (Report.Names)
	Internal      bool       `json:"internal"`
	Class         string     `json:"class"`                  // internal, external, azure, loopback, link_local, multicast
	ClassReason   string     `json:"class_reason,omitempty"` // why: the range or evidence that makes it internal, or what it is
	Bytes         uint64     `json:"bytes"`                  // IP bytes sent and received
	Packets       uint64     `json:"packets"`
	Conversations uint64     `json:"conversations"`
	Peers         int        `json:"peers"`
}

// PairStat is the traffic between two hosts; A is the lower address.
type PairStat struct {
	A             netip.Addr `json:"a"`
	AName         string     `json:"a_name,omitempty"`
	AInternal     bool       `json:"a_internal"`
	AClass        string     `json:"a_class"`
	AClassReason  string     `json:"a_class_reason,omitempty"`
	B             netip.Addr `json:"b"`
	BName         string     `json:"b_name,omitempty"`
	BInternal     bool       `json:"b_internal"`
	BClass        string     `json:"b_class"`
	BClassReason  string     `json:"b_class_reason,omitempty"`
	Bytes         uint64     `json:"bytes"`
	Packets       uint64     `json:"packets"`
	Conversations uint64     `json:"conversations"`
}

// PortStat is the traffic to one responder port.
type PortStat struct {
	Proto         string `json:"proto"`
	Port          uint16 `json:"port"`
	Conversations uint64 `json:"conversations"`
	Bytes         uint64 `json:"bytes"`
	Responders    int    `json:"responders"`
	Originators   int    `json:"originators"`
}

// Options tune a Summary.
type Options struct {
	Internal []netip.Prefix // in addition to the default internal ranges
	Top      int            // rows per top list
	Detect   DetectOptions
}

// Summary accumulates conversations and file results into a Report.
type Summary struct {
	opt      Options
	net      *Network
	inputs   []Input
	connLogs []ConnLogInput
	damage   int
	conns    uint64
	hosts    *hostTable
	// Hosts past maxHosts seen only in unanswered or failed
	// conversations, and the conversations left out with them.
	hostsLeftOut *sourceCount
	convsLeftOut uint64
	pairs        *pairMap[pairAcc] // under the hosts' numbers, the lower address's first
	ports        map[portKey]*portAcc
	fl           flowLogAcc
	series       timeSeries
	names        *names
	det          *detection
	// The detectors run on a goroutine of their own (see observe): the
	// conversations not yet handed to it, the hand-off, and its end.
	detBatch []*flows.Conn
	detIn    chan []*flows.Conn
	detDone  chan struct{}
	report   *Report // once made
	// The Azure inventory read so far, and its index.
	inv       inventory.Inventory
	invInputs []InventoryInput
	azure     *inventory.Index
	// The Log Analytics exports read, and VMBoundPort's listening ports.
	analyticsInputs []AnalyticsInput
	bound           map[boundKey]string
	invChanged      bool // inventory added since the index was made
}

// pairAcc is the traffic between two hosts. A busy folder has hundreds of
// thousands of pairs, so they are kept by value under the hosts' numbers
// (see hostTable), and spilled past pairMapLimit.
type pairAcc struct {
	bytes, packets, conversations uint64
}

type pairAccCodec struct{}

func (pairAccCodec) append(b []byte, v pairAcc) []byte {
	b = binary.AppendUvarint(b, v.bytes)
	b = binary.AppendUvarint(b, v.packets)
	return binary.AppendUvarint(b, v.conversations)
}

func (pairAccCodec) decode(b []byte) (pairAcc, error) {
	d := record.NewDecoder(b)
	v := pairAcc{bytes: d.Uvarint(), packets: d.Uvarint(), conversations: d.Uvarint()}
	return v, d.End()
}

func (pairAccCodec) merge(older, newer pairAcc) pairAcc {
	older.bytes += newer.bytes
	older.packets += newer.packets
	older.conversations += newer.conversations
	return older
}

// hostAcc is a host's totals, all that is kept of each of possibly
// millions of hosts; its peers are counted from the pairs, and its name
// and class looked up, when the report is made.
type hostAcc struct {
	ip                            hostKey
	bytes, packets, conversations uint64
}

// hostKey is an address as 16 bytes: unlike a netip.Addr it holds no
// pointer, so the garbage collector need not scan millions of them. The
// readers unmap IPv4-mapped IPv6 addresses, so IPv4 is told apart by the
// mapped form; zones never come from evidence.
type hostKey [16]byte

func keyOf(a netip.Addr) hostKey { return a.As16() }

func (k hostKey) addr() netip.Addr { return netip.AddrFrom16(k).Unmap() }

type portKey struct {
	proto uint8
	port  uint16
}

type portAcc struct {
	stat        PortStat
	responders  hostSet
	originators hostSet
}

// NewSummary returns an empty Summary.
func NewSummary(opt Options) *Summary {
	if opt.Top <= 0 {
		opt.Top = 10
	}
	s := &Summary{
		opt: opt, net: NewNetwork(opt.Internal),
		pairs: newPairMap[pairAcc](pairMapLimit, pairAccCodec{}),
		ports: make(map[portKey]*portAcc),
		names: newNames(),
	}
	s.hosts = newHostTable()
	s.hostsLeftOut = &sourceCount{exact: map[netip.Addr]uint64{}}
	// The detectors number the hosts they keep state for themselves: they
	// run beside the accounting, which numbers its own.
	s.det = newDetection(opt.Detect, s.net, s.names, newHostTable())
	return s
}

// detectBatch is how many conversations go to the detectors at once.
const detectBatch = 256

// observe hands a conversation to the detectors. They run on a goroutine
// of their own, beside the accounting and the names of AddConn, and share
// nothing with them until the report but the network, which only they
// change (the NICs flow logs show), and the inventory's index, which
// changes only while they wait (see waitDetection).
func (s *Summary) observe(c *flows.Conn) {
	if s.detIn == nil {
		in, done := make(chan []*flows.Conn, 4), make(chan struct{})
		s.detIn, s.detDone = in, done
		// Labelled for CPU profiles as a stage of its own
		// (docs/performance.md).
		go pprof.Do(context.Background(), pprof.Labels("stage", "detect"), func(context.Context) {
			defer close(done)
			for batch := range in {
				for _, c := range batch {
					s.det.observe(c)
				}
			}
		})
	}
	s.detBatch = append(s.detBatch, c)
	if len(s.detBatch) == detectBatch {
		s.detIn <- s.detBatch
		s.detBatch = make([]*flows.Conn, 0, detectBatch)
	}
}

// waitDetection hands the detectors the conversations left and waits
// until they have observed them all; observe starts them again.
func (s *Summary) waitDetection() {
	if s.detIn == nil {
		return
	}
	if len(s.detBatch) > 0 {
		s.detIn <- s.detBatch
		s.detBatch = nil
	}
	close(s.detIn)
	<-s.detDone
	s.detIn, s.detDone = nil, nil
}

// AddCapture records how one capture file was read; its conversations
// come through AddConn.
func (s *Summary) AddCapture(res ingest.CaptureResult) {
	in := Input{
		File: res.Path, Size: res.Size, Format: res.Format.String(),
		Packets: res.Stats.Records, Bytes: res.Stats.Bytes,
		NonIP: res.Stats.NonIP, Truncated: res.Stats.Truncated, Fragments: res.Stats.Fragments, FragmentsIncomplete: res.Stats.FragDropped,
		SHA256: res.SHA256, first: res.Stats.First, last: res.Stats.Last,
	}
	in.LinkTypes = []string{}
	for _, lt := range res.Stats.LinkTypes {
		in.LinkTypes = append(in.LinkTypes, pcapread.LinkTypeName(uint16(lt)))
	}
	if res.Stats.Records > 0 {
		in.First, in.Last = FormatTime(res.Stats.First), FormatTime(res.Stats.Last)
	}
	in.Damage = damage(res.Err, "", res.Stats.Outliers, res.Stats.OutlierAt, "packet")
	var notes []string
	if n := res.Stats.BadFractions; n > 0 {
		notes = append(notes, ingest.BadFractions(n))
	}
	if n := res.EndedEarly; n > 0 {
		notes = append(notes, ingest.EndedEarly(n))
	}
	if n := res.Stats.UnknownLinks; n > 0 {
		notes = append(notes, ingest.Undecoded(n, res.Stats.UnknownLinkTypes))
		in.Undecoded = n
	}
	in.Damage = strings.Join(slices.DeleteFunc(append([]string{in.Damage}, notes...), func(s string) bool { return s == "" }), "; ")
	in.EndedEarly = res.EndedEarly
	if in.Damage != "" {
		s.damage++
	}
	s.inputs = append(s.inputs, in)
}

// AddConn accounts one conversation.
func (s *Summary) AddConn(c *flows.Conn) {
	if s.invChanged {
		s.waitDetection() // the detectors read the index
		s.indexInventory()
	}
	s.conns++
	s.series.add(c)
	s.addLogSide(c)
	s.names.fromConn(c)
	s.observe(c)
	bytes := c.OrigIPBytes + c.RespIPBytes
	pkts := c.OrigPkts + c.RespPkts
	orig, resp := c.Orig, c.Resp
	admit := answered(c)
	io, knownOrig := s.hosts.lookup(orig, admit)
	ir, knownResp := s.hosts.lookup(resp, admit)
	if knownOrig {
		s.hosts.at(io).add(bytes, pkts)
	} else {
		s.hostsLeftOut.add(orig, 1)
	}
	if !knownResp {
		s.hostsLeftOut.add(resp, 1)
	} else if !knownOrig || ir != io {
		s.hosts.at(ir).add(bytes, pkts)
	}
	if !knownOrig || !knownResp {
		s.convsLeftOut++
	} else {
		pk := pairOf(io, ir)
		if resp.Less(orig) {
			pk = pairOf(ir, io)
		}
		p := s.pairs.get(pk)
		p.bytes += bytes
		p.packets += pkts
		p.conversations++
		s.pairs.set(pk, p)
	}
	if c.Proto == ipproto.TCP || c.Proto == ipproto.UDP || c.Proto == ipproto.SCTP {
		k := portKey{c.Proto, c.RespPort}
		pa := s.ports[k]
		if pa == nil {
			pa = &portAcc{stat: PortStat{Proto: c.ProtoName(), Port: c.RespPort}}
			s.ports[k] = pa
		}
		pa.stat.Conversations++
		pa.stat.Bytes += bytes
		if knownResp {
			pa.responders.add(ir)
		}
		if knownOrig {
			pa.originators.add(io)
		}
	}
}

// hostTable numbers the hosts of the evidence and holds their totals.
// State kept per pair of hosts is keyed by the two numbers (see pairOf):
// maps without pointers, a fraction of the size of maps keyed by
// addresses, which the garbage collector does not scan.
type hostTable struct {
	index              slotIndex // finds a host's number by its address
	chunkList[hostAcc]           // the hosts, by number
	max                int       // hosts past which lookup adds only the admitted
}

// maxHosts bounds the hosts kept in the table once they are seen only in
// unanswered or failed conversations: a flood from millions of spoofed
// sources must not cost 70 bytes each. Past it, hosts are still added
// from conversations that both sides took part in (a handshake cannot be
// spoofed at scale); the others are counted in hostsLeftOut.
const maxHosts = 1 << 20

// answered reports whether both sides of a conversation sent packets and
// it did not fail: one that a spoofed source cannot make.
func answered(c *flows.Conn) bool { return c.OrigPkts > 0 && c.RespPkts > 0 && !failed(c) }

// hostChunkShift makes the chunks of the table 65,536 hosts (2.5 MB).
const hostChunkShift = 16

func newHostTable() *hostTable {
	return &hostTable{index: newSlotIndex(), chunkList: chunkList[hostAcc]{shift: hostChunkShift}, max: maxHosts}
}

// hostHash mixes an address's 16 bytes so that every bit of the hash
// depends on every bit of the address (an IPv4 address is the last four
// bytes alone).
func hostHash(k hostKey) uint64 {
	return mix64(binary.LittleEndian.Uint64(k[:8]) ^ mix64(binary.LittleEndian.Uint64(k[8:])))
}

// id returns the number of address a, adding the host if new.
func (t *hostTable) id(a netip.Addr) uint32 {
	id, _ := t.lookup(a, true)
	return id
}

// lookup returns the number of address a, adding the host if new and the
// table holds fewer than max hosts or admit is set; ok is false when the
// host is not in the table.
func (t *hostTable) lookup(a netip.Addr, admit bool) (id uint32, ok bool) {
	k := keyOf(a)
	h := hostHash(k)
	slot, found := t.find(k, h)
	if found {
		return t.index.id(slot), true
	}
	if t.n >= t.max && !admit {
		return 0, false
	}
	id = t.add(hostAcc{ip: k})
	t.index.add(slot, h, id)
	return id, true
}

// find returns the slot of the index that holds k (h its hash), or the
// empty slot where it would go.
func (t *hostTable) find(k hostKey, h uint64) (slot int, found bool) {
	return t.index.find(h, func(id uint32) bool { return t.at(id).ip == k })
}

// has returns the number of address a, if it is in the table.
func (t *hostTable) has(a netip.Addr) (uint32, bool) {
	k := keyOf(a)
	slot, found := t.find(k, hostHash(k))
	return t.index.id(slot), found
}

func (t *hostTable) addr(id uint32) netip.Addr { return t.at(id).ip.addr() }

// pairOf is the key of the hosts numbered a and b, in that order.
func pairOf(a, b uint32) uint64 { return uint64(a)<<32 | uint64(b) }

// pair returns the addresses of a pairOf key, in its order.
func (t *hostTable) pair(k uint64) (netip.Addr, netip.Addr) {
	return t.addr(uint32(k >> 32)), t.addr(uint32(k))
}

func (h *hostAcc) add(bytes, pkts uint64) {
	h.bytes += bytes
	h.packets += pkts
	h.conversations++
}

// Err reports a failure that left something out of the report: kept
// evidence or per-pair state that could not be read back from its
// temporary file.
func (s *Summary) Err() error {
	s.waitDetection()
	return errors.Join(s.pairs.Err(), s.det.err())
}

// Report builds the report. Ties are broken by address or port, so the same
// input always gives the same report.
func (s *Summary) Report() Report {
	if s.report != nil {
		return *s.report // made once: the detectors' findings are not made twice
	}
	s.waitDetection()
	if s.invChanged {
		s.indexInventory()
	}
	// The addresses' names, the longest part of the report after a flood
	// of DNS answers (131,072 addresses named), are listed beside the
	// findings and the top lists: from here on all of them only read the
	// names and the hosts.
	// The busiest addresses first: a table shows the first few.
	nameSets := make(chan []NameSet, 1)
	go func() {
		nameSets <- s.names.sets(func(ip netip.Addr) uint64 {
			if id, ok := s.hosts.has(ip); ok {
				return s.hosts.at(id).conversations
			}
			return 0
		})
	}()
	r := Report{SchemaVersion: ReportSchemaVersion, Inputs: s.inputs, Gaps: []Gap{}}
	if r.Inputs == nil {
		r.Inputs = []Input{}
	}
	var span timeSpan
	r.Totals, span = s.totals()
	r.Findings = s.det.findings(span.first, span.last, span != timeSpan{})
	r.Series = s.series.bins(span.first, span.last)
	r.Timeline = s.timeline(r.Findings)
	r.ConnLogs = s.connLogs
	r.Gaps = gaps(s.inputs)
	r.FlowLogs = s.flowLogReport()
	if r.FlowLogs != nil {
		r.FlowLogs.Rules = s.ruleStats()
		s.explainRules(r.Findings, r.FlowLogs.Rules)
	} else {
		s.explainRules(r.Findings, nil)
	}
	s.explainConnections(&r)
	r.Inventory, r.AzureHosts, r.Analytics = s.invInputs, s.azureHosts(), s.analyticsInputs
	s.markListening(r.Findings)

	// One pass over the pairs, which may be read back from disk: the
	// hosts' peers, and the top pairs.
	pairOrder := func(a, b PairStat) int { return cmp.Or(a.A.Compare(b.A), a.B.Compare(b.B)) }
	pairsByBytes := newTopN(s.opt.Top, func(a, b PairStat) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), pairOrder(a, b))
	})
	pairsByConns := newTopN(s.opt.Top, func(a, b PairStat) int {
		return cmp.Or(cmp.Compare(b.Conversations, a.Conversations), cmp.Compare(b.Bytes, a.Bytes), pairOrder(a, b))
	})
	peers := make([]uint32, s.hosts.n)
	for k, p := range s.pairs.all() {
		ia, ib := uint32(k>>32), uint32(k)
		peers[ia]++
		if ib != ia {
			peers[ib]++
		}
		a, b := s.hosts.addr(ia), s.hosts.addr(ib)
		ps := PairStat{A: a, B: b,
			Bytes: p.bytes, Packets: p.packets, Conversations: p.conversations}
		pairsByBytes.offer(ps)
		pairsByConns.offer(ps)
	}
	s.pairs.close()
	r.TopPairsByBytes, r.TopPairsByConns = pairsByBytes.best, pairsByConns.best

	hosts := func(yield func(HostStat) bool) {
		for i := range s.hosts.n {
			h := s.hosts.at(uint32(i))
			if !yield(HostStat{IP: h.ip.addr(), Bytes: h.bytes, Packets: h.packets, Conversations: h.conversations, Peers: int(peers[i])}) {
				return
			}
		}
	}
	r.TopHostsByBytes = top(hosts, s.opt.Top, func(a, b HostStat) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), a.IP.Compare(b.IP))
	})
	r.TopHostsByConns = top(hosts, s.opt.Top, func(a, b HostStat) int {
		return cmp.Or(cmp.Compare(b.Conversations, a.Conversations), cmp.Compare(b.Bytes, a.Bytes), a.IP.Compare(b.IP))
	})
	// Names and classes as the whole evidence shows them (the flow logs
	// may have shown an address to be a VNet NIC after it was first seen).
	for _, list := range [][]HostStat{r.TopHostsByBytes, r.TopHostsByConns} {
		for i := range list {
			h := &list[i]
			h.Name = s.names.best(h.IP)
			h.Class, h.ClassReason = s.net.Classify(h.IP)
			h.Internal = h.Class == ClassInternal
		}
	}
	for _, list := range [][]PairStat{r.TopPairsByBytes, r.TopPairsByConns} {
		for i := range list {
			p := &list[i]
			p.AName, p.BName = s.names.best(p.A), s.names.best(p.B)
			p.AClass, p.AClassReason = s.net.Classify(p.A)
			p.BClass, p.BClassReason = s.net.Classify(p.B)
			p.AInternal, p.BInternal = p.AClass == ClassInternal, p.BClass == ClassInternal
		}
	}
	ports := func(yield func(PortStat) bool) {
		for _, p := range s.ports {
			p.stat.Responders, p.stat.Originators = p.responders.len(), p.originators.len()
			if !yield(p.stat) {
				return
			}
		}
	}
	r.TopPorts = top(ports, s.opt.Top, func(a, b PortStat) int {
		return cmp.Or(cmp.Compare(b.Conversations, a.Conversations), cmp.Compare(b.Bytes, a.Bytes),
			cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Port, b.Port))
	})
	r.Names, r.NamesLeftOut = <-nameSets, s.names.dropped
	s.report = &r
	return r
}

// damage says what was wrong with an input: the records skipped, why
// reading stopped, and the records whose time was far off the rest, left
// out of its time span.
func damage(err error, skipped string, outliers, at int64, what string) string {
	var why []string
	if skipped != "" {
		why = append(why, skipped)
	}
	if err != nil {
		why = append(why, err.Error())
	}
	if outliers > 0 {
		why = append(why, fmt.Sprintf("%d %s(s) with times far from the rest of the file (one at %s), left out of its time span",
			outliers, what, FormatTime(at)))
	}
	return strings.Join(why, "; ")
}

// skipped says how many damaged records a reader skipped, and why the
// first was.
func skipped[E error](n int, described []E) string {
	if n == 0 || len(described) == 0 {
		return ""
	}
	return fmt.Sprintf("%d damaged record(s) skipped, the first: %v", n, described[0])
}

// timeSpan is a time span, Unix ns.
type timeSpan struct{ first, last int64 }

func (a *timeSpan) widen(first, last int64) {
	if a.first == 0 && a.last == 0 {
		*a = timeSpan{first, last}
		return
	}
	a.first, a.last = min(a.first, first), max(a.last, last)
}

// totals counts the inputs and measures the evidence's time span and the
// captures' part of it.
func (s *Summary) totals() (Totals, timeSpan) {
	t := Totals{Files: len(s.inputs), FlowLogFiles: len(s.fl.inputs), ConnLogFiles: len(s.connLogs), InventoryFiles: len(s.invInputs), AnalyticsFiles: len(s.analyticsInputs),
		DamagedFiles: s.damage, Conversations: s.conns, Hosts: s.hosts.n, ConversationsLeftOut: s.convsLeftOut}
	t.HostsLeftOut, t.HostsLeftOutEstimated = s.hostsLeftOut.count()
	var all, captures timeSpan
	for _, in := range s.inputs {
		t.Packets += in.Packets
		t.Bytes += in.Bytes
		t.FragmentsIncomplete += in.FragmentsIncomplete
		if in.Packets > 0 {
			all.widen(in.first, in.last)
			captures.widen(in.first, in.last)
		}
	}
	for _, in := range s.fl.inputs {
		if in.Tuples > 0 {
			all.widen(in.first, in.last)
		}
	}
	for _, in := range s.connLogs {
		if in.Records > 0 {
			all.widen(in.first, in.last)
		}
	}
	for _, in := range s.analyticsInputs {
		if in.Flows > 0 {
			all.widen(in.first, in.last)
		}
	}
	if all != (timeSpan{}) {
		t.First, t.Last, t.SpanSeconds = FormatTime(all.first), FormatTime(all.last), seconds(all.last-all.first)
	}
	if captures != (timeSpan{}) {
		t.CaptureFirst, t.CaptureLast = FormatTime(captures.first), FormatTime(captures.last)
		for _, w := range mergedWindows(s.captureWindows()) {
			t.CaptureSeconds += seconds(w[1] - w[0])
		}
	}
	return t, all
}

// seconds converts nanoseconds, rounded to the millisecond.
func seconds(ns int64) float64 { return math.Round(float64(ns)/1e6) / 1e3 }

// mergedWindows returns time windows sorted, overlapping ones merged.
func mergedWindows(ws [][2]int64) [][2]int64 {
	ws = slices.Clone(ws)
	slices.SortFunc(ws, func(a, b [2]int64) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) })
	var out [][2]int64
	for _, w := range ws {
		if n := len(out); n > 0 && w[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], w[1])
			continue
		}
		out = append(out, w)
	}
	return out
}

// timeline puts the findings above low severity in time order, each with
// what showed it and whether a capture ran at the time.
func (s *Summary) timeline(fs []Finding) []Event {
	windows := s.captureWindows()
	out := []Event{}
	for i, f := range fs {
		if f.Severity == "low" {
			continue
		}
		e := Event{Time: f.FirstSeen, Finding: i, Kind: f.Kind, Title: f.Title, Src: f.Src, Dst: f.Dst, at: f.first,
			Source: sourceOf(f.Evidence.Sources)}
		e.InGap = len(windows) > 0 && !overlapsAny(f.first, f.first, windows)
		out = append(out, e)
		for _, m := range f.moments { // the episode's later key events
			k := e
			k.Time, k.Title, k.at = FormatTime(m.at), m.title, m.at
			k.InGap = len(windows) > 0 && !overlapsAny(m.at, m.at, windows)
			out = append(out, k)
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int { return cmp.Compare(a.at, b.at) })
	return out
}

// sourceOf says what saw a finding's connections: capture, flowlog or both.
func sourceOf(sources []string) string {
	capture := slices.Contains(sources, flows.SourceCapture) || slices.Contains(sources, flows.SourceBoth)
	logs := slices.Contains(sources, flows.SourceFlowLog) || slices.Contains(sources, flows.SourceBoth)
	switch {
	case capture && logs:
		return flows.SourceBoth
	case logs:
		return flows.SourceFlowLog
	case slices.Contains(sources, SourceInventory):
		return SourceInventory
	}
	return flows.SourceCapture
}

// top returns the first n of all in order, a strict total order, holding
// no more than n at a time.
func top[T any](all iter.Seq[T], n int, order func(a, b T) int) []T {
	t := newTopN(n, order)
	for v := range all {
		t.offer(v)
	}
	return t.best
}

// topN keeps the first n values by order of those offered to it.
type topN[T any] struct {
	n     int
	order func(a, b T) int
	best  []T
}

func newTopN[T any](n int, order func(a, b T) int) *topN[T] {
	return &topN[T]{n: n, order: order, best: make([]T, 0, min(n+1, 64))}
}

func (t *topN[T]) offer(v T) {
	if len(t.best) == t.n && t.order(v, t.best[t.n-1]) >= 0 {
		return
	}
	i, _ := slices.BinarySearchFunc(t.best, v, t.order)
	t.best = slices.Insert(t.best, i, v)
	if len(t.best) > t.n {
		t.best = t.best[:t.n]
	}
}

// minGap is the shortest pause between captures reported as a gap.
const minGap = int64(time.Second)

// gaps lists the pauses between captures, taken in order of their first
// packet.
func gaps(inputs []Input) []Gap {
	var caps []Input
	for _, in := range inputs {
		if in.Packets > 0 {
			caps = append(caps, in)
		}
	}
	slices.SortStableFunc(caps, func(a, b Input) int { return cmp.Compare(a.first, b.first) })
	out := []Gap{}
	end, endFile := int64(0), ""
	for i, c := range caps {
		if i > 0 && c.first-end >= minGap {
			out = append(out, Gap{After: endFile, Before: c.File, Start: FormatTime(end), End: FormatTime(c.first),
				Seconds: float64(c.first-end) / 1e9})
		}
		if i == 0 || c.last > end {
			end, endFile = c.last, c.File
		}
	}
	return out
}

// FormatTime writes Unix nanoseconds as RFC 3339 in UTC with microseconds.
func FormatTime(ns int64) string {
	var b [len("2006-01-02T15:04:05.000000Z")]byte
	return string(timefmt.AppendRFC3339Micro(b[:0], ns))
}
