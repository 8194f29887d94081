package inventory

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Detect reports whether a JSON document's first bytes look like an
// inventory: within its first levels, a "type" that names a resource
// netfx reads (Microsoft.Network/networkInterfaces, ...) or an "id" that
// is one's resource ID, the Service Tags file's top-level "changeNumber",
// or a REST example's "responses". A top-level "records" (a flow log, or
// another diagnostic log) says no.
func Detect(head []byte) bool {
	type frame struct {
		object, wantKey bool
		key             string
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})))
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = &stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				if top != nil && top.object {
					top.wantKey = true
				}
				if len(stack) >= maxDetectDepth {
					return false
				}
				stack = append(stack, frame{object: t == '{', wantKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if top != nil && top.object && top.wantKey {
				top.key, top.wantKey = strings.ToLower(t), false
				switch {
				case len(stack) == 1 && top.key == "records":
					return false
				case len(stack) == 1 && (top.key == "changenumber" || top.key == "responses"):
					return true
				}
				continue
			}
			if top != nil && top.object {
				top.wantKey = true
				if top.key == "type" && knownTypes[strings.ToLower(t)] || top.key == "id" && knownTypes[typeOfID(t)] {
					return true
				}
			}
		default:
			if top != nil && top.object {
				top.wantKey = true
			}
		}
	}
}

// maxDetectDepth bounds how deep Detect looks.
const maxDetectDepth = 8

var knownTypes = map[string]bool{typeVM: true, typeNIC: true, typeNSG: true, typeVNet: true, typeSubnet: true, typePublicIP: true}
