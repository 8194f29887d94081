package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRead feeds Read and Detect hostile documents: they must not panic,
// and what Read counts must be what it kept; an index of it must answer.
func FuzzRead(f *testing.F) {
	for _, d := range []string{azNICList, restNSGList, graphVNets, restExample, azVMListD, serviceTags,
		`[{"id": "/s/providers/Microsoft.Network/networkInterfaces/b", "ipConfigurations": [{"privateIPAddress": "10.0.0.1/33"}]}]`,
		`{"value": [{"value": [{"data": []}]}]}`, `{"responses": {"200": {"body": [1]}}}`} {
		f.Add([]byte(d))
	}
	if files, _ := filepath.Glob(filepath.Join("..", "..", "shared", "corpus", "azure-context", "*.json")); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil && len(b) < 16<<10 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		Detect(doc)
		var inv Inventory
		st, _ := Read(strings.NewReader(string(doc)), "fuzz.json", &inv)
		if st.VMs != len(inv.VMs) || st.NSGs != len(inv.NSGs) || st.VNets != len(inv.VNets) || st.ServiceTags != len(inv.Tags) {
			t.Fatalf("stats %+v do not count what was kept", st)
		}
		ix := NewIndex(inv)
		ix.Exposures()
		for _, n := range inv.NICs {
			for _, a := range n.IPs {
				ix.Host(a.Prefix.Addr())
				ix.ServiceTag(a.Prefix.Addr())
			}
			ix.Rule("UserRule_x", n.NSG, n.MAC)
		}
	})
}
