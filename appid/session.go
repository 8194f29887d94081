package appid

// Session is what a TCP conversation's parser knew of its session when the
// conversation stopped without a close: the DCE-RPC presentation contexts
// bound, and for SMB the trees connected and the named pipes opened with
// their own contexts. A connection idle past the inactivity timeout, or
// cut in two by the gap between two capture files, continues as a new
// conversation whose requests name contexts bound in the earlier one;
// given its Session, the new conversation's operations are named as if the
// bind had been seen.
type Session struct {
	h handler
}

// Session takes the session state worth handing to the conversation that
// continues this one, or returns nil: a session resumed but not used yet
// is handed on as it was. The Inspector keeps what it found but no longer
// follows the stream.
func (in *Inspector) Session() *Session {
	if s := in.resumed; s != nil && in.handler == nil {
		in.resumed = nil
		return s
	}
	switch h := in.handler.(type) {
	case *rpcHandler:
		if len(h.rpc.contexts) == 0 {
			return nil
		}
		h.buf = [2][]byte{}
	case *smbHandler:
		if len(h.trees) == 0 && len(h.pipeFIDs) == 0 && len(h.pipeRPC) == 0 {
			return nil
		}
		h.fr = [2]framer{}
	default:
		return nil
	}
	s := &Session{h: in.handler}
	in.handler = nil
	return s
}

// Resume gives the Inspector of a conversation that continues another,
// on the same addresses and ports without a new handshake, the Session
// the earlier one left. It is used once the payload shows the same
// protocol again, so a port reused for something else starts afresh.
func (in *Inspector) Resume(s *Session) { in.resumed = s }

// resume replaces a handler just chosen by detection with the resumed
// session's, when they follow the same protocol.
func (in *Inspector) resume() {
	s := in.resumed
	if s == nil {
		return
	}
	in.resumed = nil
	switch in.handler.(type) {
	case *rpcHandler:
		if _, ok := s.h.(*rpcHandler); ok {
			in.handler = s.h
		}
	case *smbHandler:
		if _, ok := s.h.(*smbHandler); ok {
			in.handler = s.h
		}
	}
}
