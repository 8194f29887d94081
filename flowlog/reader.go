package flowlog

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"

	"github.com/netfx/netfx/internal/timespan"
)

// Errors wrapped by FormatError.
var (
	ErrNotFlowLog = errors.New("not a flow log")
	ErrTruncated  = errTruncated
)

// FormatError reports a flow-log file that could not be read to its end,
// with the record and byte offset where reading stopped.
type FormatError struct {
	Path   string
	Record int   // 1-based record number, 0 when not inside a record
	Offset int64 // byte offset in the file
	Err    error
}

func (e *FormatError) Error() string {
	if e.Record == 0 {
		return fmt.Sprintf("%s: offset %d: %v", e.Path, e.Offset, e.Err)
	}
	return fmt.Sprintf("%s: records[%d] (offset %d): %v", e.Path, e.Record-1, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Stats counts what was read from one file.
type Stats struct {
	Kind       string // "nsg" or "vnet"
	Versions   []int
	Records    int
	Duplicates int // records skipped because an identical record was read before
	Tuples     int
	// First and Last are the earliest and latest tuple times, Unix ns;
	// tuples whose clock was far off the others' (see package timespan)
	// are left out of them and counted in Outliers, the first at
	// OutlierAt.
	First, Last         int64
	Outliers, OutlierAt int64
	Logs                []*Log
	// Skipped counts the records and tuples that could not be parsed and
	// were skipped; Damage says why, for the first maxDamage of them.
	Skipped int
	Damage  []*FormatError
}

// maxDamage bounds Stats.Damage.
const maxDamage = 100

// limits on one record, against hostile input.
const (
	maxTuplesPerRecord = 1 << 20
	maxRecordBytes     = 64 << 20
	maxDepth           = 64
)

// Reader reads flow-log files. It remembers the records it has read, so a
// record that appears in two copies of the same blob (a blob downloaded
// twice, or once mid-hour and once whole) is counted once. Its memory
// grows with records, about 60 an hour per NIC, not with tuples.
type Reader struct {
	seen map[uint64]struct{} // hashes of the records read
	seed maphash.Seed
	logs map[Log]*Log
}

// NewReader returns a Reader.
func NewReader() *Reader {
	return &Reader{seen: make(map[uint64]struct{}), seed: maphash.MakeSeed(), logs: make(map[Log]*Log)}
}

// record accumulates one record's fields while it is being read; fields
// may come in any order.
type record struct {
	time, category, resourceID, mac, operation string
	flowLogResourceID                          string
	version                                    int // properties.Version
	flowLogVersion                             int
	hasNSGFlows, hasVNetFlows, hasFlattened    bool
	diagnostic                                 bool  // NSG diagnostic log fields
	damage                                     error // why the record cannot be read, its JSON being whole
	fields                                     int
	otherKeys                                  []string // a few keys that are not flow-log fields, for errors
	groups                                     []group
	arena                                      []byte
	bounds                                     []byte // scratch: tuple boundaries, for hashing
	flatRule, flatACL                          string
}

// group is the tuples of one rule (and, for NSG flow logs, one MAC).
type group struct {
	rule, mac string
	tuples    [][2]int // offsets into record.arena
}

func (r *record) reset() {
	groups, arena, bounds, other := r.groups[:0], r.arena[:0], r.bounds[:0], r.otherKeys[:0]
	*r = record{groups: groups, arena: arena, bounds: bounds, otherKeys: other}
}

func (r *record) addTuple(g *group, b []byte) error {
	if len(g.tuples) >= maxTuplesPerRecord || len(r.arena)+len(b) > maxRecordBytes {
		return errors.New("record holds more tuples than any real flow log")
	}
	start := len(r.arena)
	r.arena = append(r.arena, b...)
	g.tuples = append(g.tuples, [2]int{start, len(r.arena)})
	return nil
}

// parser reads one file.
type parser struct {
	s        *scanner
	path     string
	rd       *Reader
	rec      record
	records  int
	stats    Stats
	emit     func(*Tuple)
	parsed   []Tuple // the current record's tuples
	times    timespan.Tracker
	recStart int64 // offset of the record being read
}

// Read reads the flow-log file r (named path in errors and in each tuple's
// File) and calls emit with each tuple, which is valid only during the
// call. It returns what it read and, if reading stopped early, a
// *FormatError; every complete record before it has been emitted.
func (rd *Reader) Read(r io.Reader, path string, emit func(*Tuple)) (Stats, error) {
	p := &parser{s: newScanner(r), path: path, rd: rd, emit: emit}
	err := p.run()
	p.stats.First, p.stats.Last, p.stats.Outliers, p.stats.OutlierAt, _ = p.times.Span()
	if err == nil && p.stats.Records == 0 && p.stats.Duplicates == 0 && len(p.stats.Damage) > 0 {
		// Nothing could be read: the first damage is why.
		err, p.stats.Damage = p.stats.Damage[0], p.stats.Damage[1:]
		p.stats.Skipped--
	}
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			off := p.s.offset()
			var je *jsonError
			if errors.As(err, &je) {
				off = je.offset
			}
			err = &FormatError{Path: path, Offset: off, Err: err}
		}
	}
	return p.stats, err
}

// run reads top-level values: wrapper documents, records (JSON lines),
// and the commas and closing brackets of raw appended blocks.
func (p *parser) run() error {
	for {
		tok, _, err := p.s.next()
		if err != nil {
			return err
		}
		switch tok {
		case tokEOF:
			if p.records == 0 {
				return fmt.Errorf("%w: no flow-log records", ErrNotFlowLog)
			}
			return nil
		case tokComma, tokEndArray, tokEndObject:
			// Separators of raw blocks (",{...}") and the tail block "]}".
		case tokBeginArray:
			if err := p.recordArray(); err != nil {
				return err
			}
		case tokBeginObject:
			if err := p.recordObject(true); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: JSON text does not start with an object", ErrNotFlowLog)
		}
	}
}

// recordArray reads records up to the closing bracket.
func (p *parser) recordArray() error {
	return p.eachElement(func(tok tokenKind, _ []byte) error {
		if tok != tokBeginObject {
			return p.recordError(fmt.Errorf("%w: records[] holds a non-object", ErrNotFlowLog))
		}
		return p.recordObject(false)
	})
}

// recordObject reads one record after its opening brace. At the top level
// (JSON lines, raw blocks, whole blobs) the object may instead be a
// {"records": [...]} document, whose records it reads.
func (p *parser) recordObject(top bool) error {
	p.rec.reset()
	start := p.s.offset()
	p.recStart = start
	for {
		key, done, err := p.key()
		if err != nil {
			return p.recordError(err)
		}
		if done {
			break
		}
		if top && strings.EqualFold(key, "records") {
			tok, _, err := p.s.next()
			if err != nil {
				return err
			}
			if tok != tokBeginArray {
				return fmt.Errorf("%w: \"records\" is not an array", ErrNotFlowLog)
			}
			if err := p.recordArray(); err != nil {
				return err
			}
			p.rec.reset()
			continue
		}
		if err := p.recordField(key, 0); err != nil {
			return p.recordError(err)
		}
	}
	if top && p.rec.fields == 0 {
		return nil // the document held only the records array
	}
	return p.finishRecord(start)
}

func (p *parser) recordError(err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	off := p.s.offset()
	var je *jsonError
	switch {
	case errors.As(err, &je):
		off = je.offset
	case errors.Is(err, errTruncated):
		off = p.recStart // the record that was cut
	}
	return &FormatError{Path: p.path, Record: p.records + 1, Offset: off, Err: err}
}

// key reads the next key of an object, skipping commas; done at the end.
func (p *parser) key() (string, bool, error) {
	for {
		tok, v, err := p.s.next()
		if err != nil {
			return "", false, err
		}
		switch tok {
		case tokComma:
			continue
		case tokEndObject:
			return "", true, nil
		case tokString:
			k := string(v)
			tok, _, err := p.s.next()
			if err != nil {
				return "", false, err
			}
			if tok != tokColon {
				return "", false, p.s.syntaxError("missing colon after object key")
			}
			return k, false, nil
		}
		return "", false, p.s.syntaxError("expected an object key")
	}
}

// str reads a string value (numbers are accepted as their text).
func (p *parser) str() (string, error) {
	tok, v, err := p.s.next()
	if err != nil {
		return "", err
	}
	switch tok {
	case tokString, tokNumber, tokLiteral:
		return string(v), nil
	case tokBeginObject, tokBeginArray:
		return "", p.skipRest(1)
	}
	return "", p.s.syntaxError("expected a value")
}

func (p *parser) number() (int, error) {
	s, err := p.str()
	if err != nil {
		return 0, err
	}
	var n int
	_, err = fmt.Sscan(s, &n)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}

// skip skips one value.
func (p *parser) skip() error {
	tok, _, err := p.s.next()
	if err != nil {
		return err
	}
	if tok == tokBeginObject || tok == tokBeginArray {
		return p.skipRest(1)
	}
	if tok == tokEndObject || tok == tokEndArray || tok == tokComma || tok == tokColon || tok == tokEOF {
		return p.s.syntaxError("expected a value")
	}
	return nil
}

// skipRest skips to the end of depth open containers.
func (p *parser) skipRest(depth int) error {
	for depth > 0 {
		tok, _, err := p.s.next()
		if err != nil {
			return err
		}
		switch tok {
		case tokBeginObject, tokBeginArray:
			depth++
			if depth > maxDepth {
				return p.s.syntaxError("nested too deeply")
			}
		case tokEndObject, tokEndArray:
			depth--
		case tokEOF:
			return errTruncated
		}
	}
	return nil
}

// recordField reads one field of a record.
func (p *parser) recordField(key string, _ int) error {
	r := &p.rec
	r.fields++
	var err error
	switch strings.ToLower(key) {
	case "time":
		r.time, err = p.str()
	case "category":
		r.category, err = p.str()
	case "resourceid":
		r.resourceID, err = p.str()
	case "macaddress":
		r.mac, err = p.str()
	case "operationname":
		r.operation, err = p.str()
	case "flowlogversion":
		r.flowLogVersion, err = p.number()
	case "flowlogresourceid":
		r.flowLogResourceID, err = p.str()
	case "properties":
		err = p.properties()
	case "flowrecords":
		err = p.flowRecords()
	case "rule":
		r.flatRule, err = p.str()
	case "aclid":
		r.flatACL, err = p.str()
	default:
		if strings.HasPrefix(key, "flow.") {
			var v string
			if v, err = p.str(); err == nil {
				r.hasFlattened = true
				if len(r.groups) == 0 {
					r.groups = append(r.groups, group{})
				}
				err = r.addTuple(&r.groups[0], []byte(v))
			}
			break
		}
		if len(r.otherKeys) < 4 {
			r.otherKeys = append(r.otherKeys, key)
		}
		err = p.skip()
	}
	return err
}

// expect reads the opening token of an object or array. When the value
// is something else, it skips the value, notes the record as damaged, and
// returns ok false.
func (p *parser) expect(kind tokenKind, what string) (ok bool, err error) {
	tok, _, err := p.s.next()
	if err != nil {
		return false, err
	}
	if tok != kind {
		return false, p.skipDamaged(tok, fmt.Errorf("%s is not %s", what, map[tokenKind]string{tokBeginObject: "an object", tokBeginArray: "an array"}[kind]))
	}
	return true, nil
}

// skipDamaged notes why the record cannot be read, and skips the rest of
// the value whose first token was tok: JSON that is whole but not what a
// flow log holds damages one record, not the file.
func (p *parser) skipDamaged(tok tokenKind, why error) error {
	if p.rec.damage == nil {
		p.rec.damage = why
	}
	return p.skipValue(tok)
}

// skipValue skips the rest of the value whose first token was tok.
func (p *parser) skipValue(tok tokenKind) error {
	switch tok {
	case tokBeginObject, tokBeginArray:
		return p.skipRest(1)
	case tokEndObject, tokEndArray, tokComma, tokColon, tokEOF:
		return p.s.syntaxError("expected a value")
	}
	return nil
}

// eachElement calls fn for every element of an array after its opening bracket has
// been read by expect; fn must read the element.
func (p *parser) eachElement(fn func(tok tokenKind, v []byte) error) error {
	for {
		tok, v, err := p.s.next()
		if err != nil {
			return err
		}
		switch tok {
		case tokEndArray:
			return nil
		case tokComma:
			continue
		case tokEOF:
			return errTruncated
		}
		if err := fn(tok, v); err != nil {
			return err
		}
	}
}

// eachKey calls fn for every key of an object whose opening brace has been
// read; fn must read the value.
func (p *parser) eachKey(fn func(key string) error) error {
	for {
		key, done, err := p.key()
		if err != nil || done {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
	}
}

// properties reads an NSG record's properties: Version and flows[].
func (p *parser) properties() error {
	if ok, err := p.expect(tokBeginObject, "properties"); !ok {
		return err
	}
	return p.eachKey(func(key string) error {
		switch strings.ToLower(key) {
		case "version":
			v, err := p.number()
			p.rec.version = v
			return err
		case "flows":
			p.rec.hasNSGFlows = true
			return p.nsgFlows()
		case "rulename", "conditions", "vnetresourceguid", "subnetprefix", "primaryipv4address", "priority":
			p.rec.diagnostic = true
		}
		return p.skip()
	})
}

// nsgFlows reads properties.flows[]: {rule, flows: [{mac, flowTuples}]}.
func (p *parser) nsgFlows() error {
	if ok, err := p.expect(tokBeginArray, "properties.flows"); !ok {
		return err
	}
	return p.eachObject("properties.flows[]", func() error {
		rule := ""
		first := len(p.rec.groups)
		err := p.eachKey(func(key string) error {
			switch strings.ToLower(key) {
			case "rule":
				var err error
				rule, err = p.str()
				return err
			case "flows":
				if ok, err := p.expect(tokBeginArray, "flows[].flows"); !ok {
					return err
				}
				return p.eachObject("flows[].flows[]", p.group)
			}
			return p.skip()
		})
		// The rule may come after the groups it names.
		for i := first; i < len(p.rec.groups); i++ {
			p.rec.groups[i].rule = rule
		}
		return err
	})
}

// flowRecords reads a VNet record's flowRecords.flows[]:
// {aclID, flowGroups: [{rule, flowTuples}]}.
func (p *parser) flowRecords() error {
	p.rec.hasVNetFlows = true
	if ok, err := p.expect(tokBeginObject, "flowRecords"); !ok {
		return err
	}
	return p.eachKey(func(key string) error {
		if !strings.EqualFold(key, "flows") {
			return p.skip()
		}
		if ok, err := p.expect(tokBeginArray, "flowRecords.flows"); !ok {
			return err
		}
		return p.eachObject("flowRecords.flows[]", func() error {
			return p.eachKey(func(key string) error {
				if !strings.EqualFold(key, "flowGroups") {
					return p.skip()
				}
				if ok, err := p.expect(tokBeginArray, "flowGroups"); !ok {
					return err
				}
				return p.eachObject("flowGroups[]", p.group)
			})
		})
	})
}

// eachObject calls fn for each object of an array whose opening bracket
// has been read; fn reads the object's keys.
func (p *parser) eachObject(what string, fn func() error) error {
	return p.eachElement(func(tok tokenKind, _ []byte) error {
		if tok != tokBeginObject {
			return p.skipDamaged(tok, fmt.Errorf("%s holds a non-object", what))
		}
		return fn()
	})
}

// group reads one group of tuples, {rule?, mac?, flowTuples}, into the
// record: a VNet flow group, or an NSG flow log's per-MAC entry.
func (p *parser) group() error {
	g := group{}
	err := p.eachKey(func(key string) error {
		var err error
		switch strings.ToLower(key) {
		case "rule":
			g.rule, err = p.str()
		case "mac":
			g.mac, err = p.str()
		case "flowtuples":
			err = p.tuples(&g)
		default:
			err = p.skip()
		}
		return err
	})
	p.rec.groups = append(p.rec.groups, g)
	return err
}

// tuples reads a flowTuples array of strings into the record's arena.
func (p *parser) tuples(g *group) error {
	if ok, err := p.expect(tokBeginArray, "flowTuples"); !ok {
		return err
	}
	return p.eachElement(func(tok tokenKind, v []byte) error {
		if tok != tokString {
			// One tuple lost: the record's others are kept.
			p.damaged(&FormatError{Path: p.path, Record: p.records + 1, Offset: p.s.offset(), Err: errors.New("flowTuples[] holds a non-string")})
			return p.skipValue(tok)
		}
		return p.rec.addTuple(g, v)
	})
}

// finishRecord decides what the record is, then parses and emits its
// tuples.
func (p *parser) finishRecord(start int64) error {
	r := &p.rec
	p.records++
	fail := func(err error) error {
		p.damaged(&FormatError{Path: p.path, Record: p.records, Offset: start, Err: err})
		return nil // the next record is read
	}
	if r.damage != nil {
		return fail(r.damage)
	}
	log := Log{}
	switch {
	case strings.EqualFold(r.category, "NetworkSecurityGroupEvent"), strings.EqualFold(r.category, "NetworkSecurityGroupRuleCounter"), r.diagnostic && !r.hasNSGFlows:
		return fail(fmt.Errorf("%w: an NSG diagnostic log (category %s), which records rule matches, not flows", ErrNotFlowLog, r.category))
	case !r.hasNSGFlows && !r.hasVNetFlows && !r.hasFlattened:
		if r.category == "" {
			return fail(fmt.Errorf("%w: a JSON object without flow-log fields (keys %s)", ErrNotFlowLog, strings.Join(r.otherKeys, ", ")))
		}
		return fail(fmt.Errorf("%w: a %s record without flows (a converted event, not a flow log)", ErrNotFlowLog, r.category))
	case r.hasVNetFlows || strings.EqualFold(r.category, "FlowLogFlowEvent") || r.flowLogVersion != 0:
		if r.hasNSGFlows || r.version != 0 {
			return fail(fmt.Errorf("%w: a VNet flow log record with NSG flow log fields (properties.Version, properties.flows): not a real flow log", ErrNotFlowLog))
		}
		log.Kind, log.Version = "vnet", r.flowLogVersion
		if log.Version == 0 {
			log.Version = 4
		}
		log.ResourceID = strings.ToUpper(r.flowLogResourceID)
		if r.hasFlattened {
			r.groups[0].rule = r.flatRule
		}
	case r.hasNSGFlows || strings.EqualFold(r.category, "NetworkSecurityGroupFlowEvent") || strings.EqualFold(r.operation, "NetworkSecurityGroupFlowEvents"):
		log.Kind, log.Version = "nsg", r.version
		if log.Version == 0 && r.hasFlattened {
			log.Version = 2
			if len(r.groups) > 0 && len(r.groups[0].tuples) > 0 {
				t := r.groups[0].tuples[0]
				if bytes.Count(r.arena[t[0]:t[1]], []byte(",")) == 7 {
					log.Version = 1
				}
			}
			r.groups[0].rule = r.flatRule
		}
		if log.Version != 1 && log.Version != 2 {
			return fail(fmt.Errorf("NSG flow log version %d is not 1 or 2", log.Version))
		}
		log.ResourceID = strings.ToUpper(r.resourceID)
	default:
		return fail(fmt.Errorf("%w: a record of category %q", ErrNotFlowLog, r.category))
	}

	if p.stats.Kind == "" {
		p.stats.Kind = log.Kind
	}
	if !containsInt(p.stats.Versions, log.Version) {
		p.stats.Versions = append(p.stats.Versions, log.Version)
	}
	// Parse every tuple before emitting any, so a record is kept whole or
	// not at all.
	p.parsed = p.parsed[:0]
	for gi := range r.groups {
		g := &r.groups[gi]
		l := log
		l.MAC = normalizeMAC(r.mac)
		if g.mac != "" {
			l.MAC = normalizeMAC(g.mac)
		}
		if l.MAC == "" || l.ResourceID == "" {
			// Fall back on the blob's path in the storage account.
			res, mac := blobPath(p.path)
			l.MAC = cmp.Or(l.MAC, mac)
			l.ResourceID = cmp.Or(l.ResourceID, res)
		}
		lp := p.rd.log(l)
		for _, off := range g.tuples {
			t := Tuple{Rule: g.rule, Log: lp, File: p.path, Record: p.records}
			if err := parseTuple(r.arena[off[0]:off[1]], lp, &t); err != nil {
				fail(err) // the record's other tuples are kept
				continue
			}
			p.parsed = append(p.parsed, t)
		}
	}
	if p.rd.duplicate(r, &log) {
		p.stats.Duplicates++
		return nil
	}
	p.stats.Records++
	for i := range p.parsed {
		t := &p.parsed[i]
		if !containsLog(p.stats.Logs, t.Log) {
			p.stats.Logs = append(p.stats.Logs, t.Log)
		}
		p.stats.Tuples++
		p.times.Add(t.Time)
		p.emit(t)
	}
	return nil
}

// damaged notes a record or tuple skipped.
func (p *parser) damaged(e *FormatError) {
	p.stats.Skipped++
	if len(p.stats.Damage) < maxDamage {
		p.stats.Damage = append(p.stats.Damage, e)
	}
}

// duplicate reports whether an identical record was read before, and
// remembers this one.
func (rd *Reader) duplicate(r *record, log *Log) bool {
	var h maphash.Hash
	h.SetSeed(rd.seed)
	for _, s := range [...]string{log.Kind, log.ResourceID, r.mac, r.time} {
		h.WriteString(s)
		h.WriteByte(0)
	}
	// The arena holds every tuple in order; their boundaries and the
	// groups' keys make the hash exact.
	bounds := r.bounds[:0]
	for _, g := range r.groups {
		h.WriteString(g.rule)
		h.WriteByte(0)
		h.WriteString(g.mac)
		h.WriteByte(0)
		bounds = binary.LittleEndian.AppendUint32(bounds, uint32(len(g.tuples)))
		for _, off := range g.tuples {
			bounds = binary.LittleEndian.AppendUint32(bounds, uint32(off[0]))
			bounds = binary.LittleEndian.AppendUint32(bounds, uint32(off[1]))
		}
	}
	r.bounds = bounds
	h.Write(bounds)
	h.Write(r.arena)
	k := h.Sum64()
	if _, ok := rd.seen[k]; ok {
		return true
	}
	rd.seen[k] = struct{}{}
	return false
}

// log returns the shared *Log equal to l.
func (rd *Reader) log(l Log) *Log {
	if p, ok := rd.logs[l]; ok {
		return p
	}
	p := &l
	rd.logs[l] = p
	return p
}

// blobPath reads the resource ID and MAC from a blob's path in a download
// of the storage account, as .../resourceId=/SUBSCRIPTIONS/.../y=2026/.../
// macAddress=000D3A100004/PT1H.json (NSG flow logs) or
// .../flowLogResourceID=/.../y=... (VNet flow logs). The documented variants
// differ before the y= segment, so the resource is whatever stands between
// the "=" of its key and "/y=".
func blobPath(path string) (resource, mac string) {
	path = strings.ReplaceAll(path, `\`, "/")
	path = strings.ReplaceAll(path, "%3D", "=")
	for _, key := range []string{"resourceId=", "flowLogResourceID="} {
		if i := strings.Index(strings.ToLower(path), strings.ToLower(key)); i >= 0 {
			rest := path[i+len(key):]
			if j := strings.Index(rest, "/y="); j >= 0 {
				resource = strings.ToUpper(rest[:j])
			}
			break
		}
	}
	if i := strings.Index(path, "macAddress="); i >= 0 {
		m := path[i+len("macAddress="):]
		if j := strings.IndexByte(m, '/'); j >= 0 {
			m = m[:j]
		}
		mac = normalizeMAC(m)
	}
	return resource, mac
}

func normalizeMAC(s string) string {
	s = strings.ToUpper(s)
	return strings.NewReplacer("-", "", ":", "").Replace(s)
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func containsLog(s []*Log, l *Log) bool {
	for _, x := range s {
		if x == l {
			return true
		}
	}
	return false
}
