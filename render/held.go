package render

import (
	"cmp"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/netfx/netfx/appid"
	"github.com/netfx/netfx/flows"
)

// A record with minHeldAnswers DNS answers or more is held with its
// answers apart, as they are held in memory (5 bytes an IPv4 answer of
// the name before, against 30 or more written out), and they are written
// out with it at the end (writeText, writeSorted): a flood of 64-answer
// responses then holds and spills 1 KB a record instead of 2.7
// (docs/performance.md). Such a record's held text is heldMark, where the
// answers go in the record's text and the text's length (each 4 bytes,
// little-endian), the text without the answers, then the answers
// (appid.DNSAnswers.AppendBinary). No record's text starts with heldMark:
// NDJSON's start with "{", Zeek's and the CSV's with the time.
const (
	minHeldAnswers = 8
	heldMark       = 0
	heldHeader     = 9
)

// heldAnswers returns c's DNS answers if they are to be held apart, else
// none.
func heldAnswers(c *flows.Conn) appid.DNSAnswers {
	f := &connFields[answersIndex]
	if presentGroups(c)&f.group == 0 {
		return appid.DNSAnswers{}
	}
	if answers := f.answers(c); answers.Len() >= minHeldAnswers {
		return answers
	}
	return appid.DNSAnswers{}
}

// answersIndex is the index of the DNS answers among connFields.
var answersIndex = slices.IndexFunc(connFields, func(f connField) bool { return f.answers != nil })

// appendHeld appends c's record in f's format held with its answers
// apart; hole is where f notes the answers' place. A format that left
// no place gets the record written whole.
func appendHeld(f connFormat, b []byte, c *flows.Conn, answers appid.DNSAnswers, hole *int) []byte {
	start := len(b)
	b = append(b, heldMark, 0, 0, 0, 0, 0, 0, 0, 0)
	text := len(b)
	*hole = -1
	if b = f.appendRecord(b, c, hole); *hole < text {
		return f.appendRecord(b[:start], c, nil)
	}
	binary.LittleEndian.PutUint32(b[start+1:], uint32(*hole-text))
	binary.LittleEndian.PutUint32(b[start+5:], uint32(len(b)-text))
	b, _ = answers.AppendBinary(b)
	return b
}

// appendText appends a record's text, with its DNS answers written out
// in f's format where they go if they were held apart.
func appendText(f connFormat, b, text []byte) ([]byte, error) {
	if len(text) == 0 || text[0] != heldMark {
		return append(b, text...), nil
	}
	if len(text) < heldHeader {
		return b, errHeldRecord
	}
	hole, n := binary.LittleEndian.Uint32(text[1:]), binary.LittleEndian.Uint32(text[5:])
	text = text[heldHeader:]
	var answers appid.DNSAnswers
	if uint64(n) > uint64(len(text)) || hole > n || answers.DecodeBorrowed(text[n:]) != nil {
		return b, errHeldRecord
	}
	b = f.appendAnswers(append(b, text[:hole]...), answers)
	return append(b, text[hole:n]...), nil
}

var errHeldRecord = errors.New("damaged conversation record read back from a temporary file")

// writeText writes a record's text, with its DNS answers written out if
// they were held apart.
func (w *ConnWriter) writeText(text []byte) error {
	if len(text) == 0 || text[0] != heldMark {
		_, err := w.out.Write(text)
		return err
	}
	var err error
	if w.answers, err = appendText(w.format, w.answers[:0], text); err != nil {
		return err
	}
	_, err = w.out.Write(w.answers)
	return err
}

// batched reports whether records are written through textBatches: once
// one was held with its answers apart, when there are cores to spare.
func (w *ConnWriter) batched() bool { return w.holds.Load() && w.writers >= 2 }

// writeSorted writes the sorter's records in order, through textBatches
// when batched.
func (w *ConnWriter) writeSorted() error {
	if !w.batched() {
		for r := range w.sorter.All() {
			if err := w.writeText(r.Text); err != nil {
				return err
			}
		}
		return w.sorter.Err()
	}
	batches := w.startBatches()
	for r := range w.sorter.All() {
		if !batches.add(r.Text) {
			break
		}
	}
	return cmp.Or(batches.close(), w.sorter.Err())
}

// textBatches writes records' texts in order, with their held answers
// written out on w.writers goroutines, a batch of records each, and the
// batches written in order by one more: under a flood of answers,
// writing them out is most of the end of a run, and would take one core.
// A text must not change until close returns.
type textBatches struct {
	work, inOrder, free chan *textBatch
	writing             sync.WaitGroup
	failed              atomic.Bool
	written             chan error
	batch               *textBatch
}

// startBatches starts the goroutines of textBatches writing to w.out,
// which no one else may write to until close returns.
func (w *ConnWriter) startBatches() *textBatches {
	t := &textBatches{
		work:    make(chan *textBatch, w.writers),
		inOrder: make(chan *textBatch, 2*w.writers),
		free:    make(chan *textBatch, 3*w.writers+2), // every batch there can be
		written: make(chan error, 1),
		batch:   newTextBatch(),
	}
	for range w.writers {
		t.writing.Go(func() {
			f := w.newFormat()
			for batch := range t.work {
				batch.text = batch.text[:0]
				for _, text := range batch.records {
					if batch.text, batch.err = appendText(f, batch.text, text); batch.err != nil {
						break
					}
				}
				batch.done <- struct{}{}
			}
		})
	}
	go func() {
		var err error
		for batch := range t.inOrder {
			<-batch.done
			if err == nil {
				if err = batch.err; err == nil {
					_, err = w.out.Write(batch.text)
				}
				t.failed.Store(err != nil)
			}
			clear(batch.records)
			batch.records = batch.records[:0]
			t.free <- batch
		}
		t.written <- err
	}()
	return t
}

// add takes the next record's text; false once writing has failed.
func (t *textBatches) add(text []byte) bool {
	t.batch.records = append(t.batch.records, text)
	if len(t.batch.records) == textBatchRecords {
		t.send()
	}
	return !t.failed.Load()
}

// send hands the batch on, and starts the next.
func (t *textBatches) send() {
	t.inOrder <- t.batch
	t.work <- t.batch
	select {
	case t.batch = <-t.free:
	default:
		t.batch = newTextBatch()
	}
}

// close writes the texts added last, waits until all are written and
// returns the first error writing them.
func (t *textBatches) close() error {
	if len(t.batch.records) > 0 {
		t.send()
	}
	close(t.work)
	close(t.inOrder)
	t.writing.Wait()
	return <-t.written
}

// textBatchRecords is how many records a batch of writeSorted holds.
const textBatchRecords = 256

// textBatch is records for a writer to write out, and what it wrote.
type textBatch struct {
	records [][]byte
	text    []byte
	err     error
	done    chan struct{}
}

func newTextBatch() *textBatch {
	return &textBatch{records: make([][]byte, 0, textBatchRecords), done: make(chan struct{}, 1)}
}
