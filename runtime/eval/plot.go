package eval

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotScatter draws E[score] (x) against the ground truth (y) for one
// benchmark, with the diagonal y = x, to a PNG file.
func PlotScatter(b BenchResult, path string) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: Pearson %s, Spearman %s (n=%d)", b.Name, x100(b.Metrics.Pearson), x100(b.Metrics.Spearman), b.Used)
	p.X.Label.Text = "predicted E[score]"
	p.Y.Label.Text = "ground truth"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0.8, 5.2, 0.8, 5.2
	var pts plotter.XYs
	for _, it := range b.Results {
		if !math.IsNaN(it.Pred) {
			pts = append(pts, plotter.XY{X: it.Pred, Y: it.Gold})
			p.X.Min = math.Min(p.X.Min, it.Pred-0.2) // E can fall below 1 (mass off the score tokens)
		}
	}
	diag, err := plotter.NewLine(plotter.XYs{{X: p.X.Min, Y: p.X.Min}, {X: 5.2, Y: 5.2}})
	if err != nil {
		return err
	}
	diag.Color = color.Gray{Y: 150}
	diag.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(plotter.NewGrid(), diag)
	if len(pts) > 0 {
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(2.5)
		sc.GlyphStyle.Color = color.NRGBA{R: 31, G: 119, B: 180, A: 110} // translucent: stacked points show darker
		p.Add(sc)
	}
	if err := p.Save(5*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

// PlotFile names the scatter PNG of a benchmark inside dir.
func PlotFile(dir, bench string) string {
	safe := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, bench)
	return filepath.Join(dir, "scatter_"+safe+".png")
}
