package flows

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/netfx/netfx/pcapread"
)

// Room under Config.MaxLive is made at checkpoints, every roomEvery
// packets of the input (checkpoints.at): each table tallies there the
// conversations it holds and the bytes they keep, and roomLag checkpoints
// later every table reads the whole tally. If the conversations then
// reached MaxLive, or their bytes the bound of them, the tables make room
// together. A serial Table is a group of one; the workers of a Sharded
// one are a group of several, which choose the same conversations to end
// as a serial Table: what is ended early does not depend on the number
// of workers.
//
// The lag lets a worker run up to roomLag checkpoints ahead of the
// slowest without waiting for it; the cost is that the tables may hold
// up to roomLag*roomEvery packets' worth of conversations and bytes past
// the bounds before room is made: 4,000 packets under DefaultMaxLive, 4 %
// of it.
const (
	roomLag      = 8
	maxRoomEvery = 512
)

// roomEvery returns the packets between checkpoints under a bound of
// maxLive conversations: half a percent of it, so that with the lag the
// tables go past it by 4 % at most (roomLag conversations under 200),
// and at most maxRoomEvery, which keeps the bytes past their bound to
// the names of 4,096 packets.
func roomEvery(maxLive int) int64 { return int64(min(max(maxLive/200, 1), maxRoomEvery)) }

// checkpoints places the checkpoints in the input and keeps the tallies
// of the last roomLag: a serial Table's own, or a Sharded one's for its
// workers.
type checkpoints struct {
	next    int64 // the place from which the next checkpoint may come
	count   int64 // checkpoints so far
	tallies [roomLag]*roomTally
}

// at reports whether a checkpoint comes before packet p, at place seq:
// the first packet from next on that did not come out of a tunnel, so
// that no room is made between a tunnel's carrier and what came out of
// it. It then returns the checkpoint's number, a new tally for tables,
// and the tally roomLag before it (nil for none).
func (c *checkpoints) at(seq int64, p *pcapread.Packet, every int64, tables int) (x int64, tally, earlier *roomTally, ok bool) {
	if seq < c.next || p.Tunnel != pcapread.TunnelNone {
		return 0, nil, nil, false
	}
	x, tally = c.count, newRoomTally(tables)
	earlier, c.tallies[x%roomLag] = c.tallies[x%roomLag], tally
	c.count, c.next = x+1, seq+every
	return x, tally, earlier, true
}

// roomTally is the tables' tally at one checkpoint.
type roomTally struct {
	left       atomic.Int32 // tables yet to add theirs
	live, kept atomic.Int64
	ready      chan struct{} // closed by the last table to add its own; nil for a group of one
}

func newRoomTally(tables int) *roomTally {
	t := &roomTally{}
	t.left.Store(int32(tables))
	if tables > 1 {
		t.ready = make(chan struct{})
	}
	return t
}

// add adds one table's conversations and bytes to the tally.
func (t *roomTally) add(live, kept int) {
	t.live.Add(int64(live))
	t.kept.Add(int64(kept))
	if t.left.Add(-1) == 0 && t.ready != nil {
		close(t.ready)
	}
}

// wait returns once every table added its own, or false if ctx is done
// first.
func (t *roomTally) wait(ctx context.Context) bool {
	if t.left.Load() == 0 {
		return true
	}
	select {
	case <-t.ready:
		return true
	case <-ctx.Done():
		return false
	}
}

// roomGroup is the tables that make room together, and what they share
// while they do.
type roomGroup struct {
	ctx              context.Context
	maxLive, maxKept int
	every            int64 // packets between checkpoints (roomEvery)
	members          []roomMember

	// A meeting's state: the tables arrived, and how many meetings were
	// held, under mu; the tables wait on cond.
	mu      sync.Mutex
	cond    *sync.Cond
	arrived int
	held    int
	stopped bool // ctx is done: no table waits any more
	// release forgets ctx, once the tables are done.
	release func() bool

	// What the last table to arrive at a meeting works out for all:
	// the whole group's conversations, bytes and conversations not yet
	// chosen to end, and whether room is made.
	live, kept, rest int
	done             bool
}

// roomMember is what one table of a group shares while room is made.
type roomMember struct {
	live, kept int
	// candidates are the table's idlest conversations not yet chosen
	// to end, in idle order, with the bytes each keeps; more says
	// whether it has others.
	candidates []slotOrder
	candKept   []int
	more       bool
	take       int // how many of candidates the group chose to end
}

// newRoomGroup returns a group of tables under a bound of maxLive
// conversations (DefaultMaxLive if 0) together. Waits end once ctx is
// done.
func newRoomGroup(ctx context.Context, tables, maxLive int) *roomGroup {
	if maxLive <= 0 {
		maxLive = DefaultMaxLive
	}
	g := &roomGroup{ctx: ctx, maxLive: maxLive, maxKept: maxLive * keptPerLive, every: roomEvery(maxLive), members: make([]roomMember, tables)}
	g.cond = sync.NewCond(&g.mu)
	g.release = func() bool { return false }
	if tables > 1 {
		g.release = context.AfterFunc(ctx, func() {
			g.mu.Lock()
			g.stopped = true
			g.cond.Broadcast()
			g.mu.Unlock()
		})
	}
	return g
}

// meet waits until every table of the group has arrived; the last to
// arrive calls last first. It returns false if the group stopped.
func (g *roomGroup) meet(last func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	held := g.held
	if g.arrived++; g.arrived == len(g.members) {
		g.arrived = 0
		last()
		g.held++
		g.cond.Broadcast()
		return true
	}
	for g.held == held && !g.stopped {
		g.cond.Wait()
	}
	return !g.stopped
}

// checkpoint is the table's part at checkpoint x of the input: it makes
// room, with the rest of its group, if the tally roomLag checkpoints back
// (earlier, nil for none) reached the bounds and was taken after room was
// last made, then adds its own to tally.
func (t *Table) checkpoint(x int64, tally, earlier *roomTally) {
	g := t.room
	if earlier != nil && x-roomLag >= t.roomMadeAt {
		if !earlier.wait(g.ctx) {
			return
		}
		if earlier.live.Load() >= int64(g.maxLive) || earlier.kept.Load() > int64(g.maxKept) {
			t.makeRoom()
			t.roomMadeAt = x
		}
	}
	tally.add(t.index.count, t.kept)
}

// makeRoom finishes, in every table of the group, the conversations that
// have expired, as the next sweep would; if that leaves more than three
// quarters of the bounds held, it ends early the conversations idle
// longest across the group (the first packet's place breaks ties, so the
// choice is the same every run and for any number of tables) until a
// quarter of each bound is free. Those are finished in the order they
// started, as a sweep finishes its own. Each round, each table picks its
// idlest with selectSmallest (linear time) and sorts them, and the last
// to arrive at the meeting merges them.
func (t *Table) makeRoom() {
	g, me := t.room, &t.room.members[t.member]
	t.phase = phaseRoomSweep
	t.sweep(t.now)
	me.live, me.kept = t.index.count, t.kept
	keep, keepBytes := g.maxLive-max(g.maxLive/4, 1), g.maxKept-g.maxKept/4
	if !g.meet(func() {
		g.live, g.kept, g.rest = 0, 0, 0
		for i := range g.members {
			m := &g.members[i]
			g.live, g.kept, g.rest = g.live+m.live, g.kept+m.kept, g.rest+m.live
		}
		g.done = g.live <= keep && g.kept <= keepBytes
	}) || g.done {
		return
	}
	t.order = t.order[:0]
	t.live(nil)
	rest, chosen := t.order, 0
	for {
		// As many as the count is over, and at least as many as the
		// bytes are over in proportion (more if the idlest keep less).
		end := g.live - keep
		if g.kept > keepBytes {
			end = max(end, int(int64(g.rest)*int64(g.kept-keepBytes)/int64(g.kept))+1)
		}
		end = min(end, len(rest))
		selectSmallest(rest, end, compareIdle)
		me.candidates, me.more = rest[:end], end < len(rest)
		if len(g.members) > 1 || g.kept > keepBytes {
			// A group of one under the count alone takes every candidate,
			// whatever their order.
			slices.SortFunc(me.candidates, compareIdle)
		}
		me.candKept = me.candKept[:0]
		for _, o := range me.candidates {
			me.candKept = append(me.candKept, t.keptBy(o.slot))
		}
		if !g.meet(func() { g.choose(keep, keepBytes) }) {
			return
		}
		rest, chosen = rest[me.take:], chosen+me.take
		if g.done {
			break
		}
	}
	t.phase = phaseRoomEnd
	idlest := t.order[:chosen]
	slices.SortFunc(idlest, compareStarts)
	for _, o := range idlest {
		t.finish(o.slot)
		t.early++
	}
	t.trimSlots()
	// No table reads the candidates once every table chose its own.
	me.candidates = nil
}

// keptBy returns the bytes the conversation in slot i keeps.
func (t *Table) keptBy(i int32) int {
	if i&liteBit != 0 || t.insp[i] == nil {
		return 0
	}
	return int(t.insp[i].kept)
}

// choose takes the idlest of the members' candidates, in idle order,
// until the group holds keep conversations and keepBytes bytes at most,
// or until a member that has more runs out of candidates (its next might
// come first); it tells each member how many of its own were taken, and
// whether room is made.
func (g *roomGroup) choose(keep, keepBytes int) {
	for i := range g.members {
		g.members[i].take = 0
	}
	for g.live > keep || g.kept > keepBytes {
		next := -1
		for i := range g.members {
			m := &g.members[i]
			if m.take == len(m.candidates) {
				if m.more {
					next = -1
					break
				}
				continue
			}
			if next < 0 || compareIdle(m.candidates[m.take], g.members[next].candidates[g.members[next].take]) < 0 {
				next = i
			}
		}
		if next < 0 {
			break
		}
		m := &g.members[next]
		g.live, g.kept, g.rest = g.live-1, g.kept-m.candKept[m.take], g.rest-1
		m.take++
	}
	g.done = g.rest == 0 || g.live <= keep && g.kept <= keepBytes
}
