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
	histBadChecksum
)

// tooLargeSeqDelta is Zeek's TOO_LARGE_SEQ_DELTA: a SYN or RST whose
// sequence number jumps further is not trusted.
const tooLargeSeqDelta = 1048576

// tcpSides is the TCP state of a conversation's two sides, kept apart
// from the conversation's slot (see conv.tcp): other protocols need none
// of it, and a flood of them fills the table.
type tcpSides struct{ orig, resp endpoint }

// endpoint is one side of a TCP conversation.
type endpoint struct {
	state, prevState uint8
	didClose         bool
	seqInit          bool
	finCount         uint32
	// Sequence numbers, unwrapped to 64 bits: start is the initial
	// sequence number (the SYN's, or one before the first byte seen),
	// last is one past the highest sequence sent, ack the highest
	// acknowledged by the peer.
	start, last, ack                      uint64
	histLastSYN, histLastFIN, histLastRST uint64
	// Content tracking: contig is the end of the bytes seen in order;
	// holes are up to two ranges seen beyond it; missed counts the bytes
	// the peer acknowledged that the capture never had (Zeek's gaps).
	contig uint64
	holes  [2][2]uint64
	missed uint64
	// Scaled history letters (Zeek's ScaledHistoryEntry): the letter is
	// recorded at the 1st, 10th, 100th... occurrence.
	rxmit, gaps, zeroWin scaledCount
}

// scaledCount counts occurrences of a history event and says when its
// letter is due: at 1, 10, 100 and so on.
type scaledCount struct{ n, next uint32 }

func (s *scaledCount) due() bool {
	s.n++
	if s.next == 0 {
		s.next = 1
	}
	if s.n == s.next {
		s.next *= 10
		return true
	}
	return false
}

// addSegment notes that the endpoint sent sequence space [from, to).
func (e *endpoint) addSegment(from, to uint64) {
	if to <= from {
		return
	}
	if from > e.contig {
		e.addHole(from, to)
		return
	}
	e.contig = max(e.contig, to)
	e.mergeHoles()
}

// addHole remembers out-of-order data; with both slots used, the range
// nearest the in-order edge is kept.
func (e *endpoint) addHole(from, to uint64) {
	for i := range e.holes {
		h := &e.holes[i]
		if h[1] == 0 {
			*h = [2]uint64{from, to}
			return
		}
		if from <= h[1] && to >= h[0] {
			h[0], h[1] = min(h[0], from), max(h[1], to)
			return
		}
	}
	if far := &e.holes[1]; e.holes[0][0] > far[0] {
		e.holes[0], *far = *far, e.holes[0]
	}
	if from < e.holes[1][0] {
		e.holes[1] = [2]uint64{from, to}
	}
}

// mergeHoles folds remembered ranges that the in-order edge has reached.
func (e *endpoint) mergeHoles() {
	for changed := true; changed; {
		changed = false
		for i := range e.holes {
			if h := &e.holes[i]; h[1] != 0 && h[0] <= e.contig {
				e.contig = max(e.contig, h[1])
				*h = [2]uint64{}
				changed = true
			}
		}
	}
}

// acked moves the in-order edge to an acknowledged sequence number and
// returns how many bytes below it were never seen.
func (e *endpoint) acked(ack uint64) uint64 {
	if ack <= e.contig {
		return 0
	}
	missing := ack - e.contig
	for i := range e.holes {
		if h := &e.holes[i]; h[1] != 0 && h[0] < ack {
			missing -= min(h[1], ack) - max(h[0], e.contig)
			if h[1] <= ack {
				*h = [2]uint64{}
			}
		}
	}
	e.contig = ack
	e.mergeHoles()
	return missing
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
	e.contig, e.holes = base+1, [2][2]uint64{}
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
	ep, peer := &c.tcp.resp, &c.tcp.orig
	if isOrig {
		ep, peer = &c.tcp.orig, &c.tcp.resp
	}
	flags := p.TCPFlags
	syn, fin, rst, ack := flags&pcapread.FlagSYN != 0, flags&pcapread.FlagFIN != 0, flags&pcapread.FlagRST != 0, flags&pcapread.FlagACK != 0
	length := int(p.PayloadLen)
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
	seq64 := unwrap(p.Seq, ep.last)
	relSeq := seq64 - ep.start
	c.tcpHistory(ep, isOrig, flags, relSeq, length)
	if p.Window == 0 && !rst && peer.state != tcpClosed && ep.state != tcpReset && ep.zeroWin.due() {
		c.addHistory('W', isOrig)
	}

	c.extend(p.Timestamp)
	if fin {
		ep.finCount++
	}
	if ack {
		if !peer.seqInit || peer.state == tcpInactive && !rst {
			// While the peer has sent nothing, each ACK starts its sequence
			// space anew (Zeek's init_peer): a side the capture never saw
			// send has size 0, however much the other side acknowledged.
			peer.initSeq(p.Ack - 1)
		} else if !rst {
			if a := unwrap(p.Ack, peer.ack); a > peer.ack && !(p.Ack == 0 && a-peer.ack > tooLargeSeqDelta) {
				peer.ack = a
				c.checkGap(peer, !isOrig, a, fin)
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
	case length > 0 && ep.rxmit.due():
		c.addHistory('T', isOrig)
	}
	// The FIN takes a sequence number after the data, the SYN one before.
	dataStart := seq64
	if syn {
		dataStart++
	}
	dataEnd := dataStart + uint64(length)
	if fin {
		dataEnd++
	}
	if captured := len(p.Payload); p.Truncated && captured < length {
		// The snap length cut the payload: the bytes past it were never
		// had, a hole the peer's acknowledgement turns into missed bytes,
		// as Zeek's reassembler counts them.
		ep.addSegment(dataStart, dataStart+uint64(captured))
		if fin {
			ep.addSegment(dataEnd-1, dataEnd)
		}
	} else {
		ep.addSegment(dataStart, dataEnd)
	}

	if c.tcpStateMachine(ep, peer, isOrig, syn, fin, rst, ack, length) {
		c.flipRoles()
		c.addHistory('^', true)
	}
}

// checkGap accounts the bytes of ep, the peer of the packet's sender, that
// the packet acknowledges but the capture never had, as Zeek's reassembler
// does: once both sides are established, and still after one has closed;
// the history letter only while both are established, and not for gaps a
// FIN reveals, which are unreliable.
func (c *conv) checkGap(ep *endpoint, epIsOrig bool, ack uint64, fin bool) {
	missing := ep.acked(ack)
	if missing == 0 || !openedOrClosed(c.tcp.orig.state) || !openedOrClosed(c.tcp.resp.state) {
		return
	}
	ep.missed += missing
	if !fin && c.tcp.orig.state == tcpEstablished && c.tcp.resp.state == tcpEstablished && ep.gaps.due() {
		c.addHistory('G', epIsOrig)
	}
}

// openedOrClosed reports whether an endpoint is established, or closed
// (by a FIN) after it was.
func openedOrClosed(s uint8) bool { return s == tcpEstablished || s == tcpClosed }

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
			c.historyOnce(histFinRst, 'I', isOrig)
		} else {
			c.historyOnce(histMulti, 'Q', isOrig)
		}
	case syn:
		letter := byte('S')
		if ack {
			letter = 'H'
		}
		if c.historyOnce(histSYN, letter, isOrig) && relSeq != ep.histLastSYN {
			c.addHistory(letter, isOrig)
		}
		ep.histLastSYN = relSeq
	case fin:
		end := relSeq + uint64(length)
		if c.historyOnce(histFIN, 'F', isOrig) && end != ep.histLastFIN {
			c.addHistory('F', isOrig)
		}
		ep.histLastFIN = end
	case rst:
		if c.historyOnce(histRST, 'R', isOrig) && relSeq != ep.histLastRST {
			c.addHistory('R', isOrig)
		}
		ep.histLastRST = relSeq
	case length > 0:
		c.historyOnce(histData, 'D', isOrig)
	case ack:
		c.historyOnce(histACK, 'A', isOrig)
	}
}

// historyOnce records letter the first time bit is seen for the side
// (the originator if isOrig) and reports whether it had been seen before.
func (c *conv) historyOnce(bit uint16, letter byte, isOrig bool) bool {
	seen := &c.respHistory
	if isOrig {
		seen = &c.origHistory
	}
	if *seen&bit != 0 {
		return true
	}
	*seen |= bit
	c.addHistory(letter, isOrig)
	return false
}

// tcpStateMachine moves the endpoint's state as Zeek's
// TCPSessionAdapter::UpdateStateMachine does (its weirds and events left
// out), and reports whether the roles flip.
func (c *conv) tcpStateMachine(ep, peer *endpoint, isOrig, syn, fin, rst, ack bool, length int) (flip bool) {
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
				if !ack && peer.state == tcpSynAckSent {
					// The SYN after the SYN-ACK that answers it (two
					// interfaces, reordered): the roles flip, as in Zeek.
					flip = true
					peer.setState(tcpEstablished)
				}
				if peer.state == tcpSynSent {
					peer.setState(tcpEstablished)
				}
				ep.setState(tcpEstablished)
			}
		}
		doClose = ep.finOrReset(fin, rst)
		if ep.state == tcpInactive {
			switch {
			case !isOrig && length == 0 && c.tcp.orig.state == tcpSynSent:
				// An ACK of a SYN before the SYN-ACK: not a partial connection.
			case ack && peer.state == tcpEstablished:
				ep.setState(tcpEstablished)
			default:
				ep.setState(tcpPartial)
			}
		}
	case tcpSynSent, tcpSynAckSent:
		doClose = ep.finOrReset(fin, rst)
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
	return flip
}

// finOrReset moves the endpoint to CLOSED on a FIN and to RESET on a RST,
// and reports whether either closed it.
func (e *endpoint) finOrReset(fin, rst bool) bool {
	if fin {
		e.setState(tcpClosed)
	}
	if rst {
		e.setState(tcpReset)
	}
	return fin || rst
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
