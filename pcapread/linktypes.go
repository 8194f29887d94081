package pcapread

import (
	"strconv"
	"strings"

	"github.com/gopacket/gopacket/layers"
)

// linkTypeNames names the LINKTYPE_ values netfx meets, as tcpdump and
// Wireshark call them.
var linkTypeNames = map[uint16]string{
	0: "NULL", 1: "EN10MB", 9: "PPP", 10: "FDDI", 12: "RAW", 14: "RAW", 50: "PPP_HDLC", 101: "RAW", 104: "C_HDLC",
	105: "IEEE802_11", 108: "LOOP", 113: "LINUX_SLL", 119: "PRISM_HEADER", 127: "IEEE802_11_RADIOTAP", 163: "IEEE802_11_AVS",
	192: "PPI", 228: "IPV4", 229: "IPV6", 239: "NFLOG", 276: "LINUX_SLL2",
}

// LinkTypeNames names link types, each as LinkTypeName does, joined by
// commas.
func LinkTypeNames(lts []layers.LinkType) string {
	names := make([]string, len(lts))
	for i, lt := range lts {
		names[i] = LinkTypeName(uint16(lt))
	}
	return strings.Join(names, ", ")
}

// LinkTypeName returns the link type's name, or its number.
func LinkTypeName(lt uint16) string {
	if n, ok := linkTypeNames[lt]; ok {
		return n
	}
	return "LINKTYPE_" + strconv.Itoa(int(lt))
}
