package render

import (
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"
)

// grid is one table of the report: a header, rows, and which columns may
// be cut to fit the terminal, the first of them first.
type grid struct {
	header []string
	rows   [][]string
	flex   []int       // columns that may be cut
	least  map[int]int // the narrowest some flexible columns are cut to (minColumn otherwise)
	paths  []int       // columns of file paths, cut at their start to keep the file's name
	drop   []int       // columns left out, in this order, when cutting is not enough
}

// minColumn is the narrowest a flexible column is cut to.
const minColumn = 10

// fit makes the table at most maxWidth columns wide: a table takes the
// widths of its columns plus three for each column's border and padding,
// plus one. It cuts the flexible columns' cells with "…", the widest
// first, down to minColumn; if that is not enough it leaves out the
// columns of drop, in order, and cuts again; and at the last cuts any
// column, down to lastResort.
func (g *grid) fit(maxWidth int) {
	// A cell's characters past ASCII take more bytes than columns: fit
	// again, narrower, until no row is longer than maxWidth in bytes
	// either, so that the report fits however its width is measured.
	orig := g.clone()
	for narrower := maxWidth; ; {
		g.fitColumns(narrower)
		extra := g.extraBytes()
		_, total := g.widths()
		if total+extra <= maxWidth || narrower <= 3*len(g.header)+1 {
			return
		}
		narrower -= total + extra - maxWidth
		*g = orig.clone()
	}
}

// clone copies the grid, rows and all.
func (g *grid) clone() grid {
	c := grid{header: slices.Clone(g.header), flex: slices.Clone(g.flex), drop: slices.Clone(g.drop), least: maps.Clone(g.least),
		paths: slices.Clone(g.paths)}
	for _, r := range g.rows {
		c.rows = append(c.rows, slices.Clone(r))
	}
	return c
}

// extraBytes is the most bytes past its columns that a row takes.
func (g *grid) extraBytes() int {
	most := 0
	for _, r := range append([][]string{g.header}, g.rows...) {
		n := 0
		for _, c := range r {
			n += len(c) - width(c)
		}
		most = max(most, n)
	}
	return most
}

// fitColumns fits the table to maxWidth columns.
func (g *grid) fitColumns(maxWidth int) {
	for {
		widths, total := g.widths()
		total = cut(widths, total, maxWidth, g.flex, func(col int) int { return max(minColumn, width(g.header[col]), g.least[col]) })
		if total > maxWidth && len(g.drop) == 0 {
			// The last resort: any column, headers too, down to a few
			// columns each.
			all := make([]int, len(widths))
			for i := range all {
				all[i] = i
			}
			total = cut(widths, total, maxWidth, all, func(int) int { return lastResort })
			for i, h := range g.header {
				g.header[i] = truncate(h, widths[i])
			}
		}
		if total <= maxWidth || len(g.drop) == 0 {
			for _, r := range g.rows {
				for i := range r {
					if slices.Contains(g.paths, i) {
						r[i] = truncateStart(r[i], widths[i])
					} else {
						r[i] = truncate(r[i], widths[i])
					}
				}
			}
			return
		}
		g.remove(g.drop[0])
	}
}

// lastResort is the narrowest any column is cut to when the table does
// not fit otherwise.
const lastResort = 4

// cut narrows the widest of cols, a column at a time, down to floor(col),
// until the table's total width is at most maxWidth, and returns the
// total.
func cut(widths []int, total, maxWidth int, cols []int, floor func(col int) int) int {
	for total > maxWidth {
		widest := -1
		for _, col := range cols {
			if widths[col] > floor(col) && (widest < 0 || widths[col] > widths[widest]) {
				widest = col
			}
		}
		if widest < 0 {
			break // nothing left to cut
		}
		widths[widest]--
		total--
	}
	return total
}

// widths returns each column's width and the table's.
func (g *grid) widths() ([]int, int) {
	widths := make([]int, len(g.header))
	for i, h := range g.header {
		widths[i] = width(h)
	}
	for _, r := range g.rows {
		for i, c := range r {
			widths[i] = max(widths[i], width(c))
		}
	}
	total := 1
	for _, w := range widths {
		total += w + 3
	}
	return widths, total
}

// remove leaves column col out.
func (g *grid) remove(col int) {
	g.header = slices.Delete(g.header, col, col+1)
	for i := range g.rows {
		g.rows[i] = slices.Delete(g.rows[i], col, col+1)
	}
	renumber := func(cols []int) []int {
		var out []int
		for _, c := range cols {
			switch {
			case c < col:
				out = append(out, c)
			case c > col:
				out = append(out, c-1)
			}
		}
		return out
	}
	g.flex, g.drop, g.paths = renumber(g.flex), renumber(g.drop), renumber(g.paths)
	least := map[int]int{}
	for c, n := range g.least {
		if renumbered := renumber([]int{c}); len(renumbered) == 1 {
			least[renumbered[0]] = n
		}
	}
	g.least = least
}

// write fits the table to maxWidth and writes it to w with t, or "none"
// when it has no rows.
func (g *grid) write(w io.Writer, t *tableWriter, maxWidth int) error {
	if len(g.rows) == 0 {
		_, err := fmt.Fprintln(w, "none")
		return err
	}
	g.fit(maxWidth)
	table := t.reset(w)
	header := make([]any, len(g.header))
	for i, h := range g.header {
		header[i] = strings.ToUpper(h)
	}
	table.Header(header...)
	for _, r := range g.rows {
		if err := table.Append(r); err != nil {
			return err
		}
	}
	return table.Render()
}

// tableWriter writes the grids of a page with one tablewriter.Table, made
// for the first and reset for each after it: a new Table makes a cache of
// 10,240 entries (458 KB) for stringers, which netfx never gives it, so
// each table of a report made one for nothing.
type tableWriter struct {
	table *tablewriter.Table
	w     io.Writer
}

// reset returns a Table writing to w, emptied of the last grid.
func (t *tableWriter) reset(w io.Writer) *tablewriter.Table {
	if t.table == nil || t.w != w {
		t.w = w
		t.table = tablewriter.NewTable(w, tablewriter.WithSymbols(tw.NewSymbols(tw.StyleASCII)),
			tablewriter.WithRowAutoWrap(tw.WrapNone), tablewriter.WithHeaderAutoWrap(tw.WrapNone),
			tablewriter.WithTrimSpace(tw.Off), tablewriter.WithHeaderAutoFormat(tw.Off),
			tablewriter.WithStringerCacheCustom(noStringerCache{}))
	} else {
		t.table.Reset()
	}
	return t.table
}

// noStringerCache is a tablewriter stringer cache that keeps nothing;
// unlike none (nil), Table.Reset leaves it in place.
type noStringerCache struct{}

func (noStringerCache) Add(reflect.Type, reflect.Value) bool        { return false }
func (noStringerCache) Get(reflect.Type) (v reflect.Value, ok bool) { return v, false }
func (noStringerCache) Purge()                                      {}
