package flows

import "github.com/netfx/netfx/pcapread"

// TCP endpoint states, as Zeek's TCP analyzer names them.
const (
	tcpInactive uint8 = iota
	tcpSynSent
	tcpSynAckSent
	tcpPartial
	tcpEstablished
	tcpClosed
	tcpReset
)

// History bits: each letter is recorded once per endpoint, except that S,
// H, F and R are recorded again when their sequence number changes.
const (
	histSYN = 1 << iota
	histFIN
	histRST
	histData
	histACK
	histMulti
	histFinRst
)

// tooLargeSeqDelta is Zeek's TOO_LARGE_SEQ_DELTA: a SYN or RST whose
// sequence number jumps further is not trusted.
const tooLargeSeqDelta = 1048576

// endpoint is one side of a conversation.
type endpoint struct {
	state, prevState uint8
	didClose         bool
	seqInit          bool
	finCount         uint32
	histFlags        uint16
	// Sequence numbers, unwrapped to 64 bits: start is the initial
	// sequence number (the SYN's, or one before the first byte seen),
	// last is one past the highest sequence sent, ack the highest
	// acknowledged by the peer.
	start, last, ack                      uint64
	histLastSYN, histLastFIN, histLastRST uint64
	size                                  uint64 // UDP, ICMP and other protocols: payload bytes sent
}

// unwrap places a 32-bit sequence number in the 64-bit space near ref.
func unwrap(seq uint32, ref uint64) uint64 {
	return ref + uint64(int64(int32(seq-uint32(ref))))
}

// initSeq starts the endpoint's sequence space at seq.
func (e *endpoint) initSeq(seq uint32) {
	// Start well above zero so that unwrapping never underflows.
	base := uint64(seq) + 1<<40
	e.start, e.ack, e.last = base, base, base
	e.seqInit = true
}

// tcpSize is the endpoint's payload size from its sequence numbers, as
// Zeek's TCP_Endpoint::Size computes it.
func (e *endpoint) tcpSize(peer *endpoint) uint64 {
	if !e.seqInit || (e.prevState == tcpSynSent && e.state == tcpReset && peer.state == tcpInactive) {
		return 0
	}
	top := max(e.last, e.ack)
	if top <= e.start {
		return 0
	}
	size := top - e.start - 1 // the SYN's sequence number
	if e.finCount > 0 && size > 0 {
		size-- // the FIN's
	}
	return size
}

// tcpPacket updates the conversation with one TCP packet.
func (c *conv) tcpPacket(p *pcapread.Packet, isOrig bool) {
	ep, peer := &c.respEP, &c.origEP
	if isOrig {
		ep, peer = &c.origEP, &c.respEP
	}
	flags := p.TCPFlags
	syn, fin, rst, ack := flags&pcapread.FlagSYN != 0, flags&pcapread.FlagFIN != 0, flags&pcapread.FlagRST != 0, flags&pcapread.FlagACK != 0
	length := p.PayloadLen
	segLen := uint32(length)
	if syn {
		segLen++
	}
	if fin {
		segLen++
	}

	// Initialise the sequence space (Zeek's init_endpoint).
	switch ep.state {
	case tcpInactive:
		if syn {
			ep.initSeq(p.Seq)
		} else {
			ep.initSeq(p.Seq - 1)
		}
	case tcpSynSent, tcpSynAckSent:
		if syn && p.Seq != uint32(ep.start) {
			ep.initSeq(p.Seq)
		}
	case tcpEstablished, tcpPartial:
		if syn && ep.tcpSize(peer) == 0 && p.Seq != uint32(ep.start) {
			ep.initSeq(p.Seq)
		}
	}
	relSeq := unwrap(p.Seq, ep.last) - ep.start
	c.tcpHistory(ep, isOrig, flags, relSeq, length)

	if !c.origEP.didClose || !c.respEP.didClose {
		c.lastTime = p.Timestamp
	}
	if fin {
		ep.finCount++
	}
	if ack {
		if !peer.seqInit {
			peer.initSeq(p.Ack - 1)
		} else if !rst {
			if a := unwrap(p.Ack, peer.ack); a > peer.ack && !(p.Ack == 0 && a-peer.ack > tooLargeSeqDelta) {
				peer.ack = a
			}
		}
	}
	// Zeek's update_last_seq.
	newLast := unwrap(p.Seq+segLen, ep.last)
	delta := int64(newLast - ep.last)
	switch {
	case (syn || rst) && (delta > tooLargeSeqDelta || delta < -tooLargeSeqDelta):
	case fin && ep.last == ep.start+1:
		ep.last = newLast
	case ep.state == tcpReset:
	case delta > 0:
		ep.last = newLast
	}

	c.tcpStateMachine(ep, peer, isOrig, syn, fin, rst, ack, length)
}

// tcpHistory appends the history letters for one packet (Zeek's
// update_history): upper case for the originator.
func (c *conv) tcpHistory(ep *endpoint, isOrig bool, flags uint8, relSeq uint64, length int) {
	syn, fin, rst, ack := flags&pcapread.FlagSYN != 0, flags&pcapread.FlagFIN != 0, flags&pcapread.FlagRST != 0, flags&pcapread.FlagACK != 0
	n := 0
	for _, b := range [3]bool{syn, fin, rst} {
		if b {
			n++
		}
	}
	switch {
	case n > 1:
		if fin && rst {
			c.historyOnce(ep, histFinRst, 'I', isOrig)
		} else {
			c.historyOnce(ep, histMulti, 'Q', isOrig)
		}
	case syn:
		letter := byte('S')
		if ack {
			letter = 'H'
		}
		if c.historyOnce(ep, histSYN, letter, isOrig) && relSeq != ep.histLastSYN {
			c.addHistory(letter, isOrig)
		}
		ep.histLastSYN = relSeq
	case fin:
		end := relSeq + uint64(length)
		if c.historyOnce(ep, histFIN, 'F', isOrig) && end != ep.histLastFIN {
			c.addHistory('F', isOrig)
		}
		ep.histLastFIN = end
	case rst:
		if c.historyOnce(ep, histRST, 'R', isOrig) && relSeq != ep.histLastRST {
			c.addHistory('R', isOrig)
		}
		ep.histLastRST = relSeq
	case length > 0:
		c.historyOnce(ep, histData, 'D', isOrig)
	case ack:
		c.historyOnce(ep, histACK, 'A', isOrig)
	}
}

// historyOnce records letter the first time bit is seen for the endpoint and
// reports whether it had been seen before.
func (c *conv) historyOnce(ep *endpoint, bit uint16, letter byte, isOrig bool) bool {
	if ep.histFlags&bit != 0 {
		return true
	}
	ep.histFlags |= bit
	c.addHistory(letter, isOrig)
	return false
}

// tcpStateMachine moves the endpoint's state as Zeek's
// TCPSessionAdapter::UpdateStateMachine does (its weirds and events left out).
func (c *conv) tcpStateMachine(ep, peer *endpoint, isOrig, syn, fin, rst, ack bool, length int) {
	doClose := false
	switch ep.state {
	case tcpInactive:
		if syn {
			if isOrig {
				if ack {
					ep.setState(tcpSynAckSent)
				} else {
					ep.setState(tcpSynSent)
				}
			} else {
				if peer.state == tcpSynSent {
					peer.setState(tcpEstablished)
				}
				ep.setState(tcpEstablished)
			}
		}
		if fin {
			ep.setState(tcpClosed)
			doClose = true
		}
		if rst {
			ep.setState(tcpReset)
			doClose = true
		}
		if ep.state == tcpInactive {
			switch {
			case !isOrig && length == 0 && c.origEP.state == tcpSynSent:
				// An ACK of a SYN before the SYN-ACK: not a partial connection.
			case ack && peer.state == tcpEstablished:
				ep.setState(tcpEstablished)
			default:
				ep.setState(tcpPartial)
			}
		}
	case tcpSynSent, tcpSynAckSent:
		if fin {
			ep.setState(tcpClosed)
			doClose = true
		}
		if rst {
			ep.setState(tcpReset)
			doClose = true
		}
	case tcpEstablished, tcpPartial:
		if syn && ep.state == tcpPartial && peer.state == tcpInactive && !ack {
			ep.setState(tcpSynSent)
		}
		if fin && !rst {
			ep.setState(tcpClosed)
			if peer.state == tcpReset && peer.prevState == tcpClosed {
				peer.setState(tcpClosed) // FIN then RST: a normal close
			}
			doClose = true
		}
		if rst {
			ep.setState(tcpReset)
			doClose = true
		}
	case tcpClosed:
		if rst && peer.state != tcpClosed {
			ep.setState(tcpReset)
			if !ep.didClose {
				doClose = true
			}
		}
	}
	if doClose && !ep.didClose {
		ep.didClose = true
		if ep.state == tcpReset || peer.didClose || peer.state == tcpInactive {
			c.closed = true
		}
	}
}

func (e *endpoint) setState(s uint8) {
	e.prevState = e.state
	e.state = s
}

// tcpConnState derives conn_state from the endpoint states, as Zeek's
// conn_state function does.
func tcpConnState(os, rs uint8, origSize, respSize uint64, history string) string {
	oInactive := os == tcpInactive || os == tcpPartial
	rInactive := rs == tcpInactive || rs == tcpPartial
	switch {
	case rs == tcpReset:
		switch {
		case os == tcpSynSent || os == tcpSynAckSent || (os == tcpReset && origSize == 0 && respSize == 0):
			return "REJ"
		case oInactive:
			return "RSTRH"
		}
		return "RSTR"
	case os == tcpReset:
		if rInactive {
			if rstos0(history) {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs == tcpClosed && os == tcpClosed:
		return "SF"
	case os == tcpClosed:
		if rInactive {
			return "SH"
		}
		return "S2"
	case rs == tcpClosed:
		if oInactive {
			return "SHR"
		}
		return "S3"
	case os == tcpSynSent && rs == tcpInactive:
		return "S0"
	case os == tcpEstablished && rs == tcpEstablished:
		return "S1"
	}
	return "OTH"
}

// rstos0 matches Zeek's /^\^?S[^HAFGIQ]*R/ on the history.
func rstos0(h string) bool {
	if len(h) > 0 && h[0] == '^' {
		h = h[1:]
	}
	if len(h) == 0 || h[0] != 'S' {
		return false
	}
	for i := 1; i < len(h); i++ {
		switch h[i] {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}
