package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PlotRun reads dir/metrics.jsonl and writes PNG curves beside it:
// loss.png (every "loss" and any "loss/<term>" series against step),
// reward.png (every "reward/<name>/mean"), grad_norm.png, and eval.png
// (every eval/<bench>/pearson, spearman, kendall against step), each only
// when it has at least one point. Returns the paths written. A missing or
// damaged metrics file is an error naming the file and line; NaN/null
// points are skipped.
func PlotRun(dir string) ([]string, error) {
	lines, err := ReadMetrics(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		return nil, err
	}
	run := dir
	if abs, err := filepath.Abs(dir); err == nil {
		run = abs
	}
	run = filepath.Base(run)

	loss := plotCollect(lines, func(k string) (string, bool) {
		if k == "loss" {
			return "loss", true
		}
		if t, ok := strings.CutPrefix(k, "loss/"); ok && t != "" {
			return k, true
		}
		return "", false
	})
	reward := plotCollect(lines, func(k string) (string, bool) {
		rest, ok := strings.CutPrefix(k, "reward/")
		if !ok {
			return "", false
		}
		name, ok := strings.CutSuffix(rest, "/mean")
		return name, ok && name != ""
	})
	grad := plotCollect(lines, func(k string) (string, bool) {
		return "grad_norm", k == "grad_norm"
	})
	eval := plotCollect(lines, func(k string) (string, bool) {
		rest, ok := strings.CutPrefix(k, "eval/")
		if !ok {
			return "", false
		}
		for _, m := range plotCorrelations {
			if bench, ok := strings.CutSuffix(rest, "/"+m); ok && bench != "" {
				return bench + " " + m, true
			}
		}
		return "", false
	})

	var written []string
	for _, f := range []struct {
		file, metric, ylabel string
		series               []plotSeries
		style                func(i int, s plotSeries, lp *plotter.Line, sc *plotter.Scatter)
	}{
		{"loss.png", "loss", "loss", loss, nil},
		{"reward.png", "reward (mean)", "mean reward", reward, nil},
		{"grad_norm.png", "grad norm", "gradient norm", grad, nil},
		{"eval.png", "eval correlations", "correlation x100", eval, plotEvalStyle(eval)},
	} {
		if len(f.series) == 0 {
			continue
		}
		path := filepath.Join(dir, f.file)
		if err := plotCurves(path, f.metric+" — "+run, f.ylabel, f.series, f.style); err != nil {
			return written, err
		}
		written = append(written, path)
	}
	return written, nil
}

// ReadMetrics parses a metrics.jsonl into its lines (each a map from key to
// value; numbers as float64, null as NaN, strings kept as strings). Blank
// lines are skipped; a line that is not one JSON object is an error naming
// the file and line number.
func ReadMetrics(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []map[string]any
	for n := 1; ; n++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, fmt.Errorf("%s:%d: %v", path, n, rerr)
		}
		if t := bytes.TrimSpace(line); len(t) > 0 {
			var m map[string]any
			if err := json.Unmarshal(t, &m); err != nil {
				if rerr != nil {
					// A last line without its newline is one the trainer is
					// writing, or was writing when killed: not data yet.
					return out, nil
				}
				return nil, fmt.Errorf("%s:%d: %v", path, n, err)
			}
			if m == nil {
				return nil, fmt.Errorf("%s:%d: not a JSON object", path, n)
			}
			for k, v := range m {
				if v == nil {
					m[k] = math.NaN()
				}
			}
			out = append(out, m)
		}
		if rerr != nil {
			return out, nil
		}
	}
}

// plotCorrelations are the eval metrics drawn in eval.png, in legend order.
var plotCorrelations = []string{"pearson", "spearman", "kendall"}

// plotSeries is one curve: its legend name, the metrics key it came from,
// and its finite (step, value) points in step order.
type plotSeries struct {
	name, key string
	pts       plotter.XYs
}

// plotCollect gathers, for every key that match names, the finite points
// (step, value) over lines; series come back sorted by name, with an
// empty-point series dropped.
func plotCollect(lines []map[string]any, match func(key string) (string, bool)) []plotSeries {
	byKey := map[string]*plotSeries{}
	for _, l := range lines {
		step, ok := l["step"].(float64)
		if !ok || math.IsNaN(step) || math.IsInf(step, 0) {
			continue
		}
		for k, v := range l {
			name, ok := match(k)
			if !ok {
				continue
			}
			y, ok := v.(float64)
			if !ok || math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			s := byKey[k]
			if s == nil {
				s = &plotSeries{name: name, key: k}
				byKey[k] = s
			}
			s.pts = append(s.pts, plotter.XY{X: step, Y: y})
		}
	}
	out := make([]plotSeries, 0, len(byKey))
	for _, s := range byKey {
		sort.SliceStable(s.pts, func(i, j int) bool { return s.pts[i].X < s.pts[j].X })
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return plotOrder(out[i]) < plotOrder(out[j]) })
	return out
}

// plotEvalStyle colours eval curves by benchmark and dashes them by
// correlation (pearson solid, spearman dashed, kendall dotted).
func plotEvalStyle(series []plotSeries) func(int, plotSeries, *plotter.Line, *plotter.Scatter) {
	benchIdx := map[string]int{}
	for _, s := range series {
		bench := plotEvalBench(s.key)
		if _, ok := benchIdx[bench]; !ok {
			benchIdx[bench] = len(benchIdx)
		}
	}
	return func(_ int, s plotSeries, l *plotter.Line, sc *plotter.Scatter) {
		c := plotutil.Color(benchIdx[plotEvalBench(s.key)])
		l.Color, sc.Color = c, c
		for m, name := range plotCorrelations {
			if strings.HasSuffix(s.key, "/"+name) {
				l.Dashes = plotutil.Dashes(m)
				sc.Shape = plotutil.Shape(m)
			}
		}
	}
}

// plotOrder is a series' sort key: "loss" before its terms, eval curves
// by benchmark then pearson, spearman, kendall, others by name.
func plotOrder(s plotSeries) string {
	if s.key == "loss" {
		return ""
	}
	if strings.HasPrefix(s.key, "eval/") {
		return fmt.Sprintf("%s\x00%d", plotEvalBench(s.key), plotCorrelationRank(s.key))
	}
	return s.name
}

// plotCorrelationRank is the place of an eval key's correlation in
// plotCorrelations.
func plotCorrelationRank(key string) int {
	for i, m := range plotCorrelations {
		if strings.HasSuffix(key, "/"+m) {
			return i
		}
	}
	return len(plotCorrelations)
}

// plotEvalBench is the benchmark of an "eval/<bench>/<metric>" key.
func plotEvalBench(key string) string {
	rest := strings.TrimPrefix(key, "eval/")
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// plotCurves draws series as lines with points against step and writes
// the PNG to path (through a temporary file, so a viewer never sees half
// an image).
func plotCurves(path, title, ylabel string, series []plotSeries, style func(int, plotSeries, *plotter.Line, *plotter.Scatter)) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	leg := plot.NewLegend() // drawn beside the plot, never over a curve
	leg.Left, leg.Top = true, true
	for i, s := range series {
		l, sc, err := plotter.NewLinePoints(s.pts)
		if err != nil {
			return fmt.Errorf("%s: %s: %v", path, s.key, err)
		}
		c := plotutil.Color(i)
		l.Color, sc.Color = c, c
		l.Dashes = plotutil.Dashes(i / 7) // colours repeat after 7 series
		sc.Shape = plotutil.Shape(i)
		sc.Radius = vg.Points(2)
		if style != nil {
			style(i, s, l, sc)
		}
		p.Add(l, sc)
		leg.Add(s.name, l, sc)
	}
	w, h := 7*vg.Inch, 4.5*vg.Inch
	right := vg.Points(8) // room for the glyphs of the last step, then the legend
	if len(series) > 1 {
		r := leg.Rectangle(draw.New(vgimg.New(w, h)))
		right += r.Max.X - r.Min.X + vg.Points(8)
	}
	img := vgimg.New(w+right, h)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -right, 0, 0))
	if len(series) > 1 {
		top := p.Title.TextStyle.Height(p.Title.Text) + p.Title.Padding // level with the top of the data area
		leg.Draw(draw.Crop(dc, w+vg.Points(12), 0, 0, -top))
	}
	png := vgimg.PngCanvas{Canvas: img}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = png.WriteTo(tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
