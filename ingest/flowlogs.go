package ingest

import (
	"context"
	"io"
	"runtime/pprof"

	"github.com/netfx/netfx/flowlog"
)

// tupleBatch is how many flow-log tuples the parsing goroutine hands over
// at once.
const tupleBatch = 1024

// parsedTuples is flow-log tuples parsed, in order; result, after a
// file's last tuples, says how reading it went.
type parsedTuples struct {
	tuples []flowlog.Tuple
	result *FlowLogResult
}

// parseFlowLogs reads the flow logs at paths, in order, on a goroutine of
// its own, a few batches ahead of use, which gets the tuples and, after a
// file's last ones, its result (nil otherwise). It returns at once when
// ctx is done.
func parseFlowLogs(ctx context.Context, in *sources, paths []string, wrap func(io.Reader) io.Reader, use func([]flowlog.Tuple, *FlowLogResult)) {
	full, free := make(chan parsedTuples, 4), make(chan []flowlog.Tuple, 6)
	// The goroutine's sends stop when use does: it ends at its next step
	// (a read blocked on a pipe, at its next byte).
	stop := make(chan struct{})
	defer close(stop)
	go pprof.Do(ctx, pprof.Labels("stage", "flowlogs"), func(ctx context.Context) {
		defer close(full)
		send := func(b parsedTuples) bool {
			select {
			case full <- b:
				return true
			case <-stop:
				return false
			case <-ctx.Done():
				return false
			}
		}
		reader := flowlog.NewReader()
		next := func() []flowlog.Tuple {
			select {
			case b := <-free:
				return b[:0]
			default:
				return make([]flowlog.Tuple, 0, tupleBatch)
			}
		}
		batch := next()
		for _, p := range paths {
			if ctx.Err() != nil {
				return
			}
			// A file cut off by a cancelled run ends with the context's
			// error, which stops its read; the tuples of a batch that
			// could not be sent are dropped with it.
			stopped := false
			st, err := openAndRead(in, p, wrap, func(r io.Reader) (flowlog.Stats, error) {
				return reader.Read(contextReader{ctx, r}, p, func(t *flowlog.Tuple) {
					if stopped {
						return
					}
					if batch = append(batch, *t); len(batch) == tupleBatch {
						if stopped = !send(parsedTuples{tuples: batch}); !stopped {
							batch = next()
						}
					}
				})
			})
			if stopped || ctx.Err() != nil {
				return
			}
			if !send(parsedTuples{tuples: batch, result: &FlowLogResult{Path: p, Stats: st, Err: err}}) {
				return
			}
			batch = next()
		}
	})
	for {
		var b parsedTuples
		var more bool
		select {
		case b, more = <-full:
		case <-ctx.Done():
			return
		}
		if !more {
			return
		}
		use(b.tuples, b.result)
		select {
		case free <- b.tuples:
		default:
		}
	}
}

// contextReader fails its reads once ctx is done, so that a long file's
// read stops with the run.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}
