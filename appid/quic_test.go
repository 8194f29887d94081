package appid

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"testing"
)

// TestQUICInitialSecrets checks the key derivation against RFC 9001,
// appendix A.1 (version 1) and RFC 9369, appendix A.1 (version 2): the
// client's first Destination Connection ID 0x8394c8f03e515708.
func TestQUICInitialSecrets(t *testing.T) {
	dcid, _ := hex.DecodeString("8394c8f03e515708")
	for _, tt := range []struct {
		version     uint32
		server      bool
		key, iv, hp string
	}{
		{1, false, "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{1, true, "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
		{0x6b3343cf, false, "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
	} {
		key, iv, hp := initialSecrets(quicVersions[tt.version], dcid, tt.server)
		if got := hex.EncodeToString(key) + " " + hex.EncodeToString(iv) + " " + hex.EncodeToString(hp); got != tt.key+" "+tt.iv+" "+tt.hp {
			t.Errorf("version %#x server %v: %s, want %s %s %s", tt.version, tt.server, got, tt.key, tt.iv, tt.hp)
		}
	}
}

// sealInitial builds a version 1 Initial packet from dcid to scid with
// frames as its payload, protected as RFC 9001 prescribes (the inverse of
// open) with the keys of the client's first Destination Connection ID.
func sealInitial(t testing.TB, server bool, clientDCID, dcid, scid []byte, pn uint32, frames []byte) []byte {
	t.Helper()
	k := newQuicKeys(initialSecrets(quicVersions[1], clientDCID, server))
	frames = append(frames, make([]byte, max(0, 1100-len(frames)))...) // PADDING, as clients pad to 1200
	hdr := []byte{0xc3, 0, 0, 0, 1, byte(len(dcid))}                   // Initial, 4-byte packet number
	hdr = append(append(hdr, dcid...), byte(len(scid)))
	hdr = append(append(hdr, scid...), 0) // no token
	length := 4 + len(frames) + 16
	hdr = append(hdr, 0x40|byte(length>>8), byte(length))
	pnOffset := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)
	nonce := slices.Clone(k.iv)
	for i := range 4 {
		nonce[len(nonce)-1-i] ^= byte(pn >> (8 * i))
	}
	packet := k.aead.Seal(slices.Clone(hdr), nonce, frames, hdr)
	var mask [16]byte
	k.hp.Encrypt(mask[:], packet[pnOffset+4:pnOffset+20])
	packet[0] ^= mask[0] & 0x0f
	for i := range 4 {
		packet[pnOffset+i] ^= mask[1+i]
	}
	return packet
}

// cryptoFrame is a CRYPTO frame carrying data at offset off.
func cryptoFrame(off int, data []byte) []byte {
	f := []byte{0x06, 0x40 | byte(off>>8), byte(off), 0x40 | byte(len(data)>>8), byte(len(data))}
	return append(f, data...)
}

// TestQUICInitials reads the TLS hellos inside QUIC Initial packets: a
// ClientHello in CRYPTO frames out of order across two packets (as
// Chrome sends a large one), a ServerHello in the server's Initial
// coalesced with a Handshake packet; the service becomes quic,ssl.
func TestQUICInitials(t *testing.T) {
	dcid, scid, serverID := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{9, 9, 9, 9}, []byte{7, 7, 7, 7}
	hello := clientHello("quic.example.net", "h3")[5:] // the handshake message, without the TLS record header
	half := len(hello) / 2
	first := slices.Concat([]byte{0x01}, cryptoFrame(half, hello[half:half+10]), []byte{0x00, 0x00})
	second := slices.Concat(cryptoFrame(half+10, hello[half+10:]), []byte{0x01}, cryptoFrame(0, hello[:half]))
	serverHello := []byte{2, 0, 0, 46, 3, 3}
	serverHello = append(serverHello, make([]byte, 32)...)
	serverHello = append(serverHello, 0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4)
	ack := []byte{0x02, 0x00, 0x00, 0x00, 0x00}
	handshake := append([]byte{0xe0, 0, 0, 0, 1, 4, 9, 9, 9, 9, 4, 7, 7, 7, 7, 0x40, 20}, make([]byte, 20)...)

	in := NewInspector(true)
	in.Datagram(FromOrig, sealInitial(t, false, dcid, dcid, scid, 0, first))
	if in.Services() != "quic" || in.Facts() != nil && in.Facts().TLS != nil && in.Facts().TLS.ServerName != "" {
		t.Fatalf("after half a ClientHello: services %q facts %+v", in.Services(), in.Facts())
	}
	in.Datagram(FromOrig, sealInitial(t, false, dcid, dcid, scid, 1, second))
	in.Datagram(FromResp, slices.Concat(sealInitial(t, true, dcid, scid, serverID, 0, slices.Concat(ack, cryptoFrame(0, serverHello))), handshake))
	f := in.Facts()
	if f == nil || f.TLS == nil {
		t.Fatalf("no TLS facts; services %q", in.Services())
	}
	if in.Services() != "quic,ssl" || f.TLS.ServerName != "quic.example.net" || !slices.Equal(f.TLS.ALPN, []string{"h3"}) ||
		f.TLS.Version != "TLSv13" || !bytes.HasPrefix([]byte(f.TLS.JA4), []byte("q13d")) {
		t.Errorf("services %q tls %+v", in.Services(), f.TLS)
	}
}

// BenchmarkQUICInitial reads a client's first Initial packet, padded to
// 1,200 bytes as clients pad it, in a conversation of its own: what a
// flood of QUIC Initials from ever new sources costs a packet (key
// derivation, decryption, the client hello and its JA4).
func BenchmarkQUICInitial(b *testing.B) {
	dcid, scid := []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{9, 9, 9, 9}
	hello := clientHello("quic.example.net", "h3")[5:]
	frames := slices.Concat(cryptoFrame(0, hello), make([]byte, 1200-len(hello)-60))
	packet := sealInitial(b, false, dcid, dcid, scid, 0, frames)
	b.ReportAllocs()
	for b.Loop() {
		in := NewInspector(true)
		in.Datagram(FromOrig, packet)
		if in.Facts() == nil || in.Facts().TLS == nil || in.Facts().TLS.ServerName != "quic.example.net" {
			b.Fatal("the client hello was not read")
		}
	}
}
