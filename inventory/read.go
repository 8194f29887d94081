package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Inventory is what the documents read so far describe.
type Inventory struct {
	VMs       []VM
	NICs      []NIC
	NSGs      []NSG
	VNets     []VNet
	Subnets   []Subnet // read as resources of their own; a VNet's are also in VNet.Subnets
	PublicIPs []PublicIP
	Tags      []ServiceTag
}

// Stats says what one document gave.
type Stats struct {
	VMs, NICs, NSGs, VNets, Subnets, PublicIPs, ServiceTags int
	Other                                                   int // resources of types netfx does not use
	// Skipped counts the objects that could not be read; Damage describes
	// the first few.
	Skipped int
	Damage  []*Error
}

// Resources is how many resources and service tags the document gave.
func (s Stats) Resources() int {
	return s.VMs + s.NICs + s.NSGs + s.VNets + s.Subnets + s.PublicIPs + s.ServiceTags + s.Other
}

// maxDamage bounds Stats.Damage.
const maxDamage = 10

// Error is a part of a document that could not be read: an object
// skipped, or where reading stopped.
type Error struct {
	Path   string
	Offset int64 // bytes into the document (decompressed)
	What   string
	Err    error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: offset %d: %s: %v", e.Path, e.Offset, e.What, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ErrNotInventory says a JSON document holds no Azure resource or
// service tag.
var ErrNotInventory = errors.New("not an Azure inventory (no ARM resource or service tag in it)")

// Bounds on what one document may make netfx hold.
const (
	maxDocument = 1 << 30 // bytes
	maxObject   = 64 << 20
	maxObjects  = 1 << 21 // resources and tags
)

// Read reads one JSON document — an ARM resource, a list of them ([…],
// {"value": […]} as the REST API and the az CLI print them, or Resource
// Graph's {"data": […]}), a REST API example ({"responses": {"200":
// {"body": …}}}), the Service Tags file ({"values": […]}), or several of
// these one after the other — into inv. An object that cannot be read is
// skipped and counted in the Stats; the error returned says why reading
// stopped early (the document ends mid-value, or is no JSON), and the
// resources before that point are kept.
func Read(r io.Reader, path string, inv *Inventory) (Stats, error) {
	cr := &countingReader{r: io.LimitReader(r, maxDocument+1)}
	br := bufio.NewReader(cr)
	rd := &reader{dec: json.NewDecoder(br), path: path, inv: inv, in: cr}
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte{0xEF, 0xBB, 0xBF}) { // PowerShell's Out-File writes one
		br.Discard(3)
		rd.base = 3
	}
	rd.dec.UseNumber()
	for {
		off := rd.dec.InputOffset()
		tok, err := rd.dec.Token()
		if err == io.EOF {
			break
		}
		if err == nil {
			err = rd.value(tok, 0)
		}
		if err != nil {
			return rd.st, rd.stopped(off, err)
		}
	}
	if rd.st.Resources() == 0 {
		return rd.st, fmt.Errorf("%s: %w", path, ErrNotInventory)
	}
	return rd.st, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type reader struct {
	base int64 // bytes before what dec reads: a byte-order mark
	dec  *json.Decoder
	in   *countingReader
	path string
	inv  *Inventory
	st   Stats
}

// stopped describes why reading stopped, in the value that starts at
// off: where the JSON went wrong, or where the document ended.
func (rd *reader) stopped(off int64, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	off = rd.base + max(off, rd.dec.InputOffset())
	if s := (*json.SyntaxError)(nil); errors.As(err, &s) {
		off = rd.base + s.Offset
	}
	switch {
	case rd.in.n > maxDocument:
		err = fmt.Errorf("larger than %d MiB, the most an inventory document may be", maxDocument>>20)
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		err, off = errors.New("the document ends mid-value (cut short?)"), rd.in.n
	}
	return &Error{Path: rd.path, Offset: off, What: "reading stopped", Err: err}
}

// listKeys are the keys whose array holds the resources of a list: ARM
// and az ("value"), the Service Tags file ("values"), Resource Graph
// ("data").
var listKeys = map[string]bool{"value": true, "values": true, "data": true}

// maxDepth bounds how deep lists and wrappers may nest.
const maxDepth = 8

// value reads the value that starts with tok: a list of resources, or an
// object that is a resource or wraps lists of them.
func (rd *reader) value(tok json.Token, depth int) error {
	if depth > maxDepth {
		return errors.New("lists nested too deep")
	}
	switch tok {
	case json.Delim('['):
		return rd.list(depth)
	case json.Delim('{'):
		return rd.object(depth)
	}
	return fmt.Errorf("a JSON %T where a resource or a list of them was expected", tok)
}

// list reads the elements of an array whose '[' was read.
func (rd *reader) list(depth int) error {
	for rd.dec.More() {
		var raw json.RawMessage
		if err := rd.dec.Decode(&raw); err != nil {
			return err
		}
		off := rd.dec.InputOffset() - int64(len(raw)) // the raw value is the value's own bytes
		var err error
		switch raw[0] {
		case '{':
			err = rd.resource(off, raw, depth+1)
		case '[':
			err = rd.nested(off, raw, depth+1)
		default:
			rd.skip(off, "list element", fmt.Errorf("%.20s, not an object", raw))
		}
		if err != nil {
			return err
		}
	}
	_, err := rd.dec.Token() // ']'
	return err
}

// nested reads a value found inside the document, at off: a list, or an
// object that wraps lists.
func (rd *reader) nested(off int64, raw []byte, depth int) error {
	sub := &reader{dec: json.NewDecoder(bytes.NewReader(raw)), in: &countingReader{}, path: rd.path, inv: rd.inv,
		base: rd.base + off} // offsets of what is skipped in it count from it
	sub.dec.UseNumber()
	tok, err := sub.dec.Token()
	if err == nil {
		err = sub.value(tok, depth)
	}
	rd.st.add(sub.st)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return &Error{Path: rd.path, Offset: rd.base + off, What: "a nested value", Err: err}
	}
	return nil
}

// object reads an object whose '{' was read: a wrapper whose list keys
// are read as lists and whose "responses" hold REST examples, or else a
// resource.
func (rd *reader) object(depth int) error {
	start := rd.dec.InputOffset() - 1
	fields := map[string]json.RawMessage{}
	wrapper := false
	size := 0
	for rd.dec.More() {
		tok, err := rd.dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		lower := strings.ToLower(key)
		if listKeys[lower] || lower == "responses" {
			next, err := rd.dec.Token()
			if err != nil {
				return err
			}
			switch {
			case next == json.Delim('[') && listKeys[lower]:
				wrapper = true
				err = rd.list(depth + 1)
			case next == json.Delim('{') && lower == "responses":
				wrapper = true
				err = rd.responses(depth + 1)
			case next == json.Delim('{') || next == json.Delim('['):
				err = rd.skipRest()
			}
			if err != nil {
				return err
			}
			continue
		}
		var raw json.RawMessage
		if err := rd.dec.Decode(&raw); err != nil {
			return err
		}
		if size += len(raw) + len(key); size > maxObject {
			return fmt.Errorf("an object larger than %d MiB", maxObject>>20)
		}
		fields[key] = raw
	}
	if _, err := rd.dec.Token(); err != nil { // '}'
		return err
	}
	if wrapper {
		return nil
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	return rd.resource(start, raw, depth)
}

// responses reads a REST API example's responses, {"200": {"body": …}},
// whose '{' was read: each body is a document of its own.
func (rd *reader) responses(depth int) error {
	for rd.dec.More() {
		if _, err := rd.dec.Token(); err != nil { // the status code
			return err
		}
		off := rd.dec.InputOffset()
		var resp struct {
			Body json.RawMessage `json:"body"`
		}
		if err := rd.dec.Decode(&resp); err != nil {
			if _, ok := err.(*json.UnmarshalTypeError); !ok {
				return err
			}
			continue
		}
		if len(resp.Body) == 0 {
			continue
		}
		if err := rd.nested(off, resp.Body, depth+1); err != nil {
			return err
		}
	}
	_, err := rd.dec.Token() // '}'
	return err
}

// skipRest skips the rest of the value whose opening delimiter was read.
func (rd *reader) skipRest() error {
	for depth := 1; depth > 0; {
		tok, err := rd.dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

// skip counts an object that could not be read, and describes the first
// few.
func (rd *reader) skip(off int64, what string, err error) {
	rd.st.Skipped++
	if len(rd.st.Damage) < maxDamage {
		rd.st.Damage = append(rd.st.Damage, &Error{Path: rd.path, Offset: rd.base + off, What: what, Err: err})
	}
}

func (s *Stats) add(o Stats) {
	s.VMs += o.VMs
	s.NICs += o.NICs
	s.NSGs += o.NSGs
	s.VNets += o.VNets
	s.Subnets += o.Subnets
	s.PublicIPs += o.PublicIPs
	s.ServiceTags += o.ServiceTags
	s.Other += o.Other
	s.Skipped += o.Skipped
	for _, d := range o.Damage {
		if len(s.Damage) < maxDamage {
			s.Damage = append(s.Damage, d)
		}
	}
}
