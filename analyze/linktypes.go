package analyze

import "strconv"

// linkTypeNames names the LINKTYPE_ values netfx meets, as tcpdump and
// Wireshark call them.
var linkTypeNames = map[uint16]string{
	0: "NULL", 1: "EN10MB", 10: "FDDI", 12: "RAW", 14: "RAW", 101: "RAW", 105: "IEEE802_11",
	108: "LOOP", 113: "LINUX_SLL", 127: "IEEE802_11_RADIOTAP", 228: "IPV4", 229: "IPV6", 276: "LINUX_SLL2",
}

// LinkTypeName returns the link type's name, or its number.
func LinkTypeName(lt uint16) string {
	if n, ok := linkTypeNames[lt]; ok {
		return n
	}
	return "LINKTYPE_" + strconv.Itoa(int(lt))
}
