package render

import (
	"github.com/netfx/netfx/flows"
)

// recordAppender is a writer that can encode a record without writing it,
// so that WriteConns can encode on several cores.
type recordAppender interface {
	appendRecord(b []byte, c *flows.Conn) []byte
}

// encodeBlock is how many records one encoding job covers.
const encodeBlock = 2048

// WriteConns writes the records in order. Writers that support it encode
// blocks of records on two goroutines; the output is the same as writing
// them one by one.
func WriteConns(w ConnWriter, conns []*flows.Conn) error {
	enc, ok := w.(recordAppender)
	if !ok || len(conns) <= encodeBlock {
		for _, c := range conns {
			if err := w.Write(c); err != nil {
				return err
			}
		}
		return nil
	}
	if z, isZeek := w.(*zeekWriter); isZeek {
		// The header and #close line depend on the records.
		if err := z.Write(conns[0]); err != nil {
			return err
		}
		for _, c := range conns {
			z.lastTS = max(z.lastTS, c.TS)
		}
		conns = conns[1:]
	}
	out := w.(interface{ writer() writeFlusher }).writer()
	type job struct {
		conns []*flows.Conn
		done  chan []byte
	}
	jobs := make(chan job, 4)
	order := make(chan job, 4)
	spare := make(chan []byte, 8) // encoded blocks' buffers, reused
	for range 2 {
		go func() {
			for j := range jobs {
				var b []byte
				select {
				case b = <-spare:
				default:
				}
				for _, c := range j.conns {
					b = enc.appendRecord(b, c)
				}
				j.done <- b
			}
		}()
	}
	go func() {
		for start := 0; start < len(conns); start += encodeBlock {
			j := job{conns: conns[start:min(start+encodeBlock, len(conns))], done: make(chan []byte, 1)}
			order <- j
			jobs <- j
		}
		close(jobs)
		close(order)
	}()
	var err error
	for j := range order {
		b := <-j.done
		if err == nil {
			_, err = out.Write(b)
		}
		select {
		case spare <- b[:0]:
		default:
		}
	}
	return err
}

// writeFlusher is the buffered writer under a ConnWriter.
type writeFlusher interface {
	Write([]byte) (int, error)
	Flush() error
}

func (n *ndjsonWriter) writer() writeFlusher { return n.w }
func (z *zeekWriter) writer() writeFlusher   { return z.w }
