package analyze

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/netfx/netfx/flows"
)

// DNS tunnels (ATT&CK T1071.004): many queries from one client for names
// under one domain that look encoded (long or random-looking labels), or
// many lookups of the types tunnels carry data in (TXT, NULL, CNAME, MX)
// with ever new names: data or commands carried in DNS.

// DNS tunnel thresholds: queries to one domain with long or random-looking
// names, or many queries of the types tunnels use, carry data or commands.
const (
	tunnelQueries = 10 // suspicious queries to one domain
	longLabel     = 30 // a label this long...
	longName      = 52 // ...or a name this long is suspicious
	entropyMin    = 3.5
	// Volume: this many distinct subdomains of one domain, and this many
	// bytes of names, from one client carry data whatever the labels look
	// like.
	volumeSubdomains = 200
	volumeBytes      = 2048
)

// The DNS-tunnel state is bounded: a flood of queries for ever new names
// holds at most maxDomains × maxSubdomains × 8 bytes (32 MiB) of hashes.
// A tunnel needs tunnelQueries distinct subdomains; the fact reports up
// to maxSubdomains.
const (
	maxDomains    = 1 << 14
	maxSubdomains = 256
)

type dnsKey struct {
	client netip.Addr
	domain string
}

// tunnelTypes are the query types DNS tunnels carry data in (iodine
// prefers NULL, dnscat2 TXT, CNAME and MX).
var tunnelTypes = map[string]bool{"TXT": true, "NULL": true, "CNAME": true, "MX": true}

// dnsCounts are a client's queries for one domain.
type dnsCounts struct {
	suspicious, dataTypes, total int // queries; dataTypes of the tunnelTypes
	nameBytes                    int // bytes of the queries' subdomains: the volume carried
}

type dnsAcc struct {
	dnsCounts
	// unread counts the queries of total that were not kept to be read
	// (see observe), and are counted alike the ones read.
	unread     int
	n          int      // connections
	subdomains []uint64 // hashes of the distinct subdomains, sorted (see nameHash)
	conns      []keptRef
	resolver   netip.Addr
}

type dnsDetector struct {
	domains map[dnsKey]*dnsAcc
}

func newDNSTunnelDetector() *dnsDetector { return &dnsDetector{domains: map[dnsKey]*dnsAcc{}} }

func (n *dnsDetector) observe(d *detection, c *flows.Conn) {
	if c.App == nil || c.App.DNS == nil {
		return
	}
	var touched []*dnsAcc // the domains this conversation asked about
	var before dnsCounts  // the counts of its first before it
	dns := c.App.DNS
	read := slices.Concat(dns.Queries, dns.More)
	for _, q := range read {
		name, typ, _ := strings.Cut(q, " ")
		domain := registered(name)
		if domain == "" {
			continue
		}
		k := dnsKey{c.Orig, domain}
		a := n.domains[k]
		if a == nil {
			if len(n.domains) >= maxDomains {
				continue
			}
			// The domain is copied out of the query, which is then not
			// kept for it.
			k.domain = strings.Clone(domain)
			a = &dnsAcc{resolver: c.Resp}
			n.domains[k] = a
		}
		if !slices.Contains(touched, a) {
			if len(touched) == 0 {
				before = a.dnsCounts
			}
			touched = append(touched, a)
		}
		a.total++
		if tunnelTypes[typ] {
			a.dataTypes++
		}
		sub := strings.TrimSuffix(strings.TrimSuffix(name, domain), ".")
		a.nameBytes += len(sub)
		if len(a.subdomains) < maxSubdomains {
			h := nameHash(sub)
			if i, found := slices.BinarySearch(a.subdomains, h); !found {
				a.subdomains = slices.Insert(a.subdomains, i, h)
			}
		}
		if len(name) >= longName || longestLabel(sub) >= longLabel || (len(sub) >= 16 && entropy(sub) >= entropyMin) {
			a.suspicious++
		}
	}
	// A conversation keeps the first names it asked for, not all: a
	// tunnel asks thousands on one source port. When the names read are
	// of one domain, the queries past them count alike: as many long,
	// random-looking or typed as among the names read, and as many bytes.
	if unread := dns.QueriesTotal - len(read); len(touched) == 1 && unread > 0 {
		a := touched[0]
		n := a.total - before.total
		a.total += unread
		a.unread += unread
		a.suspicious += unread * (a.suspicious - before.suspicious) / n
		a.dataTypes += unread * (a.dataTypes - before.dataTypes) / n
		a.nameBytes += unread * (a.nameBytes - before.nameBytes) / n
	}
	for _, a := range touched {
		a.n++
		if len(a.conns) < keptPerPair {
			a.conns = append(a.conns, d.keep(c))
		}
	}
}

// nameHash is the 64-bit FNV-1a hash of a name: subdomains are counted by
// their hashes, so that the query names need not be kept (two of a
// domain's at most maxSubdomains distinct subdomains collide with a probability
// under 10^-13).
func nameHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// cloudDomains name their hosts with long random-looking labels by design
// (storage accounts, VMs, CDN edges): RITA's users keep the same list of
// never-include domains.
var cloudDomains = map[string]bool{
	"windows.net": true, "azure.com": true, "cloudapp.net": true, "azureedge.net": true, "trafficmanager.net": true,
	"microsoft.com": true, "microsoftonline.com": true, "azure.net": true, "msedge.net": true, "office.com": true,
	"amazonaws.com": true, "cloudfront.net": true, "googleapis.com": true, "gvt1.com": true, "akamaiedge.net": true,
	"akadns.net": true, "windowsupdate.com": true, "azurewebsites.net": true, "core.windows.net": true, "live.com": true,
}

// underCloud reports whether a domain is one of cloudDomains or under
// one (the public suffix list makes app.azurewebsites.net a domain of its
// own).
func underCloud(domain string) bool {
	for {
		if cloudDomains[domain] {
			return true
		}
		dot := strings.IndexByte(domain, '.')
		if dot < 0 {
			return false
		}
		domain = domain[dot+1:]
	}
}

func (n *dnsDetector) findings(d *detection) []*Finding {
	var out []*Finding
	for k, a := range n.domains {
		if underCloud(k.domain) {
			continue
		}
		encoded := a.suspicious >= tunnelQueries && 2*a.suspicious >= a.total
		typed := a.dataTypes >= tunnelQueries && len(a.subdomains) >= tunnelQueries
		volume := len(a.subdomains) >= volumeSubdomains && a.nameBytes >= volumeBytes &&
			!strings.HasSuffix(k.domain, ".arpa") && !strings.HasSuffix(k.domain, ".local")
		if !encoded && !typed && !volume {
			continue
		}
		f := d.findingFrom("dns_tunnel", "T1071.004", a.conns, d.endpoint(k.client, nil), d.endpoint(a.resolver, port(53)))
		f.Count = a.n
		distinct := fmt.Sprint(len(a.subdomains))
		if len(a.subdomains) >= maxSubdomains {
			distinct = "at least " + distinct
		}
		counted := ""
		if a.unread > 0 {
			counted = fmt.Sprintf(" (%d of them counted alike the names read: a conversation keeps its first)", a.unread)
		}
		f.Evidence.Facts = append(f.Evidence.Facts, fmt.Sprintf("domain %s: %d queries, %d with long or random-looking names, %d of type TXT, NULL, CNAME or MX, %s distinct subdomains, %d bytes of names%s",
			k.domain, a.total, a.suspicious, a.dataTypes, distinct, a.nameBytes, counted))
		if encoded || typed {
			f.Score = min(90, 60+a.suspicious/5+a.dataTypes/5+a.nameBytes/(16*volumeBytes))
			f.Title = "DNS tunnel via " + k.domain
			f.Why = fmt.Sprintf("%s sent %d queries for %s with encoded-looking names or TXT, NULL, CNAME or MX lookups: data or commands carried in DNS", k.client, a.total, k.domain)
		} else {
			f.Score = 35
			f.Title = "DNS volume to " + k.domain
			f.Why = fmt.Sprintf("%s asked for %s distinct names under %s, %d bytes of names, that do not look encoded: data carried in DNS, or a service that names its lookups (a DNS blocklist, a reputation service)",
				k.client, distinct, k.domain, a.nameBytes)
		}
		out = append(out, f)
	}
	return out
}

// registered returns the domain a name is registered under, by the
// public suffix list (golang.org/x/net/publicsuffix, which netfx carries
// with it): example.com for x.y.example.com, example.co.uk under co.uk,
// app.azurewebsites.net under the private suffix azurewebsites.net. A
// name under a top-level label the list does not know, when that label
// looks encoded (dnscat2's dnscat.<hex>[.<hex>...] names, sent straight
// to its server), is grouped under its first label that does not, as
// "dnscat.<encoded>". It returns "" for a name of one label, a public
// suffix itself, or labels that all look encoded.
func registered(name string) string {
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return ""
	}
	suffix, icann := publicsuffix.PublicSuffix(name)
	if !icann && suffix == name[dot+1:] && looksEncoded(suffix) {
		for label := range strings.SplitSeq(name, ".") {
			if !looksEncoded(label) {
				return label + ".<encoded>"
			}
		}
		return ""
	}
	// The suffix and the label before it (publicsuffix.EffectiveTLDPlusOne
	// without looking the suffix up again).
	end := len(name) - len(suffix) - 1
	if end <= 0 || name[end] != '.' {
		return ""
	}
	return name[strings.LastIndexByte(name[:end], '.')+1:]
}

// looksEncoded reports whether a label is data rather than a name: 12
// characters or more of hexadecimal or base32 with digits among them, or
// random-looking.
func looksEncoded(label string) bool {
	if len(label) < 12 {
		return false
	}
	digits := strings.IndexFunc(label, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0
	return digits || entropy(label) >= entropyMin
}

func longestLabel(name string) int {
	best := 0
	for _, l := range strings.Split(name, ".") {
		best = max(best, len(l))
	}
	return best
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	e := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(s))
			e -= p * math.Log2(p)
		}
	}
	return e
}
