package flows

// likelyServerPort reports whether a port is one a server listens on, for
// deciding the originator of a conversation whose start was not seen. Zeek
// uses the ports its analyzers register (likely_server_ports); netfx uses
// every port below 1024 and the registered ports of common services.
func likelyServerPort(proto uint8, port uint16) bool {
	if port < 1024 {
		return port != 0
	}
	_, ok := serverPorts[port]
	return ok
}

var serverPorts = map[uint16]struct{}{
	1080: {}, 1194: {}, 1433: {}, 1434: {}, 1521: {}, 1701: {}, 1723: {}, 1812: {}, 1813: {},
	2049: {}, 2082: {}, 2083: {}, 2181: {}, 2375: {}, 2376: {}, 3128: {}, 3268: {}, 3269: {},
	3306: {}, 3389: {}, 3478: {}, 3544: {}, 4443: {}, 4500: {}, 5060: {}, 5061: {}, 5222: {},
	5353: {}, 5355: {}, 5432: {}, 5671: {}, 5672: {}, 5900: {}, 5985: {}, 5986: {}, 6379: {},
	6443: {}, 6667: {}, 8000: {}, 8008: {}, 8080: {}, 8081: {}, 8088: {}, 8443: {}, 8888: {},
	9000: {}, 9090: {}, 9092: {}, 9200: {}, 9300: {}, 9418: {}, 11211: {}, 27017: {},
}
