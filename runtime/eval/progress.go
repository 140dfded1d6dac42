package eval

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// Progress shows how far a run is: a bar redrawn in place on a terminal,
// plain lines (about every 10%) otherwise, nothing for a nil writer.
type Progress struct {
	w        io.Writer
	tty      bool
	total    int
	done     int
	label    string
	start    time.Time
	lastLine int // done at the last plain line
	lastDraw time.Time
}

// NewProgress starts a progress display of total steps on w.
func NewProgress(w io.Writer, total int, label string) *Progress {
	p := &Progress{w: w, total: total, label: label, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		p.tty = term.IsTerminal(int(f.Fd()))
	}
	return p
}

// SetLabel changes the label shown beside the bar.
func (p *Progress) SetLabel(s string) { p.label = s }

// Add records n more steps done.
func (p *Progress) Add(n int) {
	if p.w == nil {
		return
	}
	p.done += n
	if p.tty {
		if time.Since(p.lastDraw) > 100*time.Millisecond || p.done == p.total {
			p.draw()
			p.lastDraw = time.Now()
		}
		return
	}
	step := max(p.total/10, 1)
	if p.done-p.lastLine >= step || p.done == p.total {
		p.lastLine = p.done
		fmt.Fprintf(p.w, "%s: %d/%d (%s)\n", p.label, p.done, p.total, p.rate())
	}
}

func (p *Progress) rate() string {
	el := time.Since(p.start).Seconds()
	if el <= 0 || p.done == 0 {
		return "-"
	}
	r := float64(p.done) / el
	eta := time.Duration(float64(p.total-p.done)/r) * time.Second
	return fmt.Sprintf("%.2f it/s, eta %s", r, eta.Round(time.Second))
}

func (p *Progress) draw() {
	const width = 30
	fill := 0
	if p.total > 0 {
		fill = width * p.done / p.total
	}
	fmt.Fprintf(p.w, "\r%-20.20s [%s%s] %d/%d %s\033[K", p.label, strings.Repeat("#", fill), strings.Repeat(".", width-fill), p.done, p.total, p.rate())
}

// Done ends the display (a newline after a bar).
func (p *Progress) Done() {
	if p.w != nil && p.tty {
		fmt.Fprintln(p.w)
	}
}
