package flows

import (
	"os"
	"slices"
	"testing"

	"github.com/netfx/netfx/pcapread"
)

// corpusConns runs a capture of the shared corpus through a Table, or
// skips when the corpus is not beside the project.
func corpusConns(t *testing.T, name string) []*Conn {
	t.Helper()
	path := "../../shared/corpus/pcap/" + name
	if _, err := os.Stat(path); err != nil {
		t.Skipf("corpus capture %s not found; skipping", path)
	}
	r, err := pcapread.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []*Conn
	tab := NewTable(DefaultConfig, func(c *Conn) { out = append(out, c) })
	tab.SetFile(name)
	for r.Next() {
		tab.Add(r.Packet())
	}
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	tab.Flush()
	return out
}

// TestCorpusIdentification checks what the payload shows on real
// captures, each against what tshark (or Zeek's baseline) shows for it.
func TestCorpusIdentification(t *testing.T) {
	for _, tt := range []struct {
		capture string
		want    func(c *Conn) bool
		n       int // conversations that must match
	}{
		// tshark decrypts the QUIC Initials: SNI config.edge.skype.com, ALPN h3.
		{"arkime__arkime_synthetic.pcap", func(c *Conn) bool {
			return c.Service == "quic" && c.App != nil && c.App.TLS != nil && c.App.TLS.ServerName == "config.edge.skype.com" &&
				slices.Equal(c.App.TLS.ALPN, []string{"h3"})
		}, 1},
		// Zeek's ftp-ipv6 baseline: five data connections.
		{"zeek__ftp_ipv6.pcap", func(c *Conn) bool { return c.Service == "ftp-data" }, 5},
		// tshark: lsarpc over SMB1 TRANS, opnums 44, 7, 0, 15.
		{"zeek__dce-rpc_mapi.pcap", func(c *Conn) bool {
			return c.App != nil && c.App.DCERPC != nil && slices.Equal(c.App.DCERPC.Operations,
				[]string{"lsarpc:LsarOpenPolicy2", "lsarpc:LsarQueryInformationPolicy", "lsarpc:LsarClose", "lsarpc:LsarLookupSids"})
		}, 1},
		// The server's SecurityResult is 1, "Authentication failed".
		{"zeek__rfb_vnc-scanner.pcap", func(c *Conn) bool {
			return c.Service == "rfb" && c.App != nil && c.App.RFB != nil && c.App.RFB.AuthFailures == 1
		}, 1},
	} {
		n := 0
		for _, c := range corpusConns(t, tt.capture) {
			if tt.want(c) {
				n++
			}
		}
		if n != tt.n {
			t.Errorf("%s: %d conversations match, want %d", tt.capture, n, tt.n)
		}
	}
}
