package main

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"math"
	"regexp"
	"strings"

	"github.com/shopspring/decimal"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/clvsync/clvsync/sync/report"
)

//go:embed templates/report.html.tmpl
var reportTemplateText string

// reportTemplate is parsed once; a parse error is a build defect that the
// package's tests catch.
var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"money":  money,
	"money2": money2,
	"pct":    pct,
	"fixed":  fixed,
	"ratio":  ratio,
	"int":    func(n int) string { return thousands(int64(n)) },
	"date":   func(t interface{ Format(string) string }) string { return t.Format("2006-01-02") },
	"per": func(d decimal.Decimal, n int) string {
		if n == 0 {
			return "-"
		}
		return money(d.DivRound(decimal.NewFromInt(int64(n)), 2))
	},
	"quadrantLabel": quadrantLabel,
	"heat":          heatStyle,
	"barWidth":      func(share float64) string { return fmt.Sprintf("%.1f%%", math.Max(0, math.Min(1, share))*100) },
}).Parse(reportTemplateText))

// reportView is what the template renders: the data and the charts.
type reportView struct {
	*report.Data
	Charts     map[string]chart
	TierMatrix tierMatrix
	MaxRFM     decimal.Decimal
}

// chart is one rendered chart: its title (also the SVG's <title>) and the
// inline SVG.
type chart struct {
	Title string
	SVG   template.HTML
}

// tierMatrix is the tier transition table: Rows[from][to].
type tierMatrix struct {
	Names []string
	Rows  [][]int
}

// renderHTML writes the self-contained HTML report: inline styles and
// inline SVG charts, no scripts and no external resources.
func renderHTML(w io.Writer, d *report.Data) error {
	v := reportView{Data: d, Charts: map[string]chart{}}
	add := func(key, title string, svg template.HTML, err error) error {
		if err != nil {
			return fmt.Errorf("chart %q: %w", title, err)
		}
		if svg != "" {
			v.Charts[key] = chart{Title: title, SVG: svg}
		}
		return nil
	}
	if d.Customers > 0 {
		title := fmt.Sprintf("Distribution of %s CLV with tier boundaries", d.Distribution.Basis)
		svg, err := histogramChart(title, d)
		if err := add("distribution", title, svg, err); err != nil {
			return err
		}
		title = "Tier share of customers and of value"
		svg, err = tierShareChart(title, d)
		if err := add("tiers", title, svg, err); err != nil {
			return err
		}
		title = "RFM: average revenue by recency and frequency"
		if err := add("rfm", title, rfmHeatmap(title, d), nil); err != nil {
			return err
		}
		title = "CLV by relationship length: quadrant"
		svg, err = quadrantChart(title, d)
		if err := add("quadrant", title, svg, err); err != nil {
			return err
		}
		title = "Maximum acquisition cost per new customer by source"
		svg, err = acquisitionChart(title, d)
		if err := add("acquisition", title, svg, err); err != nil {
			return err
		}
		title = "Cost to serve: revenue, after margin, profit"
		svg, err = costChart(title, d)
		if err := add("cost", title, svg, err); err != nil {
			return err
		}
	}
	if d.Backtest != nil {
		title := "Backtest: predicted vs actual purchases per decile"
		svg, err := backtestChart(title, d.Backtest)
		if err := add("backtest", title, svg, err); err != nil {
			return err
		}
	}
	v.TierMatrix = buildTierMatrix(d)
	for _, row := range d.RFM.Cells {
		for _, c := range row {
			if c.AvgRevenue.GreaterThan(v.MaxRFM) {
				v.MaxRFM = c.AvgRevenue
			}
		}
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, v); err != nil {
		return err
	}
	_, err := buf.WriteTo(w)
	return err
}

func buildTierMatrix(d *report.Data) tierMatrix {
	var m tierMatrix
	idx := map[string]int{}
	name := func(n string) int {
		if i, ok := idx[n]; ok {
			return i
		}
		idx[n] = len(m.Names)
		m.Names = append(m.Names, n)
		return len(m.Names) - 1
	}
	for _, t := range d.Tiers {
		name(t.Name)
	}
	for _, t := range d.Movement.TierMoves {
		name(t.From)
		name(t.To)
	}
	m.Rows = make([][]int, len(m.Names))
	for i := range m.Rows {
		m.Rows[i] = make([]int, len(m.Names))
	}
	for _, t := range d.Movement.TierMoves {
		m.Rows[idx[t.From]][idx[t.To]] += t.Customers
	}
	return m
}

// Chart colours: a blue scale for tiers, and distinct hues for categories.
var (
	colInk     = color.RGBA{0x2d, 0x37, 0x48, 0xff}
	colPrimary = color.RGBA{0x2b, 0x6c, 0xb0, 0xff}
	colAccent  = color.RGBA{0xdd, 0x6b, 0x20, 0xff}
	colMuted   = color.RGBA{0xa0, 0xae, 0xc0, 0xff}
	palette    = []color.Color{
		color.RGBA{0x2b, 0x6c, 0xb0, 0xff}, color.RGBA{0x38, 0xa1, 0x69, 0xff},
		color.RGBA{0xdd, 0x6b, 0x20, 0xff}, color.RGBA{0xa0, 0xae, 0xc0, 0xff},
		color.RGBA{0x80, 0x5a, 0xd5, 0xff}, color.RGBA{0xd5, 0x3f, 0x8c, 0xff},
	}
)

// newPlot returns a plot in the report's style: sans-serif text, a light
// grid and no title (the HTML figure carries it).
func newPlot(xLabel, yLabel string) *plot.Plot {
	p := plot.New()
	for _, s := range []*text.Style{&p.Title.TextStyle, &p.X.Label.TextStyle, &p.Y.Label.TextStyle,
		&p.X.Tick.Label, &p.Y.Tick.Label, &p.Legend.TextStyle} {
		s.Font.Variant = "Sans"
		s.Color = colInk
	}
	p.X.Label.Text, p.Y.Label.Text = xLabel, yLabel
	p.X.Label.TextStyle.Font.Size = vg.Points(11)
	p.Y.Label.TextStyle.Font.Size = vg.Points(11)
	p.X.LineStyle.Color, p.Y.LineStyle.Color = colMuted, colMuted
	p.X.Tick.LineStyle.Color, p.Y.Tick.LineStyle.Color = colMuted, colMuted
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	return p
}

// svgOf renders the plot to an inline <svg> element that scales to its
// container, titled for screen readers and the browser test.
func svgOf(p *plot.Plot, title string, w, h vg.Length) (template.HTML, error) {
	c := vgsvg.New(w, h)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	return inlineSVG(buf.String(), title), nil
}

var svgSize = regexp.MustCompile(`width="[^"]*" height="[^"]*"`)

// inlineSVG strips the XML prolog of a standalone SVG document, makes it
// scale with the page and gives it a <title>.
func inlineSVG(doc, title string) template.HTML {
	if i := strings.Index(doc, "<svg"); i >= 0 {
		doc = doc[i:]
	}
	doc = svgSize.ReplaceAllString(doc, `width="100%" role="img" class="chart"`)
	if i := strings.Index(doc, ">"); i >= 0 {
		doc = doc[:i+1] + "<title>" + template.HTMLEscapeString(title) + "</title>" + doc[i+1:]
	}
	return template.HTML(doc)
}

// moneyTicks labels a money axis with short amounts (1.5k, 20k, 3M).
type moneyTicks struct{ log bool }

// Ticks returns the ticks between min and max.
func (t moneyTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	if t.log {
		for e := math.Floor(math.Log10(math.Max(min, 1e-9))); math.Pow(10, e) <= max*1.0001; e++ {
			for _, m := range []float64{1, 2, 5} {
				v := m * math.Pow(10, e)
				if v < min*0.9999 || v > max*1.0001 {
					continue
				}
				label := ""
				if m == 1 || max/min < 1000 {
					label = shortMoney(v)
				}
				ticks = append(ticks, plot.Tick{Value: v, Label: label})
			}
		}
		return ticks
	}
	for _, tk := range (plot.DefaultTicks{}).Ticks(min, max) {
		if tk.Label != "" {
			tk.Label = shortMoney(tk.Value)
		}
		ticks = append(ticks, tk)
	}
	return ticks
}

// countTicks labels a count axis with whole numbers only.
type countTicks struct{}

// Ticks returns the default ticks between min and max that are integers.
func (countTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for _, tk := range (plot.DefaultTicks{}).Ticks(min, max) {
		if tk.Value != math.Trunc(tk.Value) {
			continue
		}
		if tk.Label != "" {
			tk.Label = thousands(int64(tk.Value))
		}
		ticks = append(ticks, tk)
	}
	return ticks
}

// shortMoney formats an axis amount: 950, 1.5k, 20k, 3M.
func shortMoney(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e6), ".0") + "M"
	case a >= 1e3:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e3), ".0") + "k"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
}

// histogramChart bins the tier-basis values, on a log axis when they span
// more than two orders of magnitude, and marks the tier boundaries.
func histogramChart(title string, d *report.Data) (template.HTML, error) {
	var pos []float64
	zero := 0
	for _, v := range d.Distribution.Values {
		if v > 0 {
			pos = append(pos, v)
		} else {
			zero++
		}
	}
	if len(pos) == 0 {
		return "", nil
	}
	lo, hi := pos[len(pos)-1], pos[0] // Values are highest first
	useLog := hi/math.Max(lo, 1e-9) > 100
	xLabel := fmt.Sprintf("%s CLV per customer (%s)", d.Distribution.Basis, d.Currency)
	if useLog {
		xLabel += ", log scale"
	}
	if zero > 0 {
		xLabel += fmt.Sprintf("; %d customers at 0 not shown", zero)
	}
	p := newPlot(xLabel, "customers")
	const n = 40
	bins := make([]plotter.HistogramBin, n)
	edge := func(i int) float64 {
		if useLog {
			return math.Pow(10, math.Log10(lo)+(math.Log10(hi)-math.Log10(lo))*float64(i)/n)
		}
		return lo + (hi-lo)*float64(i)/n
	}
	if hi == lo {
		hi = lo + 1
	}
	for i := range bins {
		bins[i] = plotter.HistogramBin{Min: edge(i), Max: edge(i + 1)}
	}
	for _, v := range pos {
		i := 0
		if useLog {
			i = int((math.Log10(v) - math.Log10(lo)) / (math.Log10(hi) - math.Log10(lo)) * n)
		} else {
			i = int((v - lo) / (hi - lo) * n)
		}
		bins[min(max(i, 0), n-1)].Weight++
	}
	h := &plotter.Histogram{Bins: bins, FillColor: colPrimary}
	h.LineStyle = draw.LineStyle{Color: color.White, Width: vg.Points(0.5)}
	p.Add(plotter.NewGrid())
	p.Add(h)
	if useLog {
		p.X.Scale = plot.LogScale{}
	}
	p.X.Tick.Marker = moneyTicks{log: useLog}
	maxW := 0.0
	for _, b := range bins {
		maxW = math.Max(maxW, b.Weight)
	}
	for i, b := range d.Distribution.Bounds {
		if b.Value <= 0 {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: b.Value, Y: 0}, {X: b.Value, Y: maxW * 1.05}})
		if err != nil {
			return "", err
		}
		l.LineStyle = draw.LineStyle{Color: colAccent, Width: vg.Points(1.5), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		p.Add(l)
		lab, err := plotter.NewLabels(plotter.XYLabels{XYs: plotter.XYs{{X: b.Value, Y: maxW * 1.05}},
			Labels: []string{fmt.Sprintf(" %s from %s", b.Tier, shortMoney(b.Value))}})
		if err != nil {
			return "", err
		}
		for j := range lab.TextStyle {
			lab.TextStyle[j].Font.Variant = "Sans"
			lab.TextStyle[j].Color = colAccent
			lab.TextStyle[j].YAlign = draw.YTop
			if i%2 == 1 {
				lab.Offset.Y = -vg.Points(13)
			}
		}
		p.Add(lab)
	}
	p.Y.Max = maxW * 1.1
	p.Y.Tick.Marker = countTicks{}
	return svgOf(p, title, 26*vg.Centimeter, 10*vg.Centimeter)
}

// groupedBars draws one group per category with one bar per series.
func groupedBars(p *plot.Plot, categories []string, series []string, values [][]float64, horizontal bool) error {
	width := vg.Points(14)
	if n := len(categories) * len(series); n > 20 {
		width = vg.Points(8)
	}
	for s, name := range series {
		bars, err := plotter.NewBarChart(plotter.Values(values[s]), width)
		if err != nil {
			return err
		}
		bars.Color = palette[s%len(palette)]
		bars.LineStyle.Width = 0
		bars.Horizontal = horizontal
		bars.Offset = width * vg.Length(float64(s)-float64(len(series)-1)/2)
		p.Add(bars)
		p.Legend.Add(name, bars)
	}
	if horizontal {
		p.NominalY(categories...)
	} else {
		p.NominalX(categories...)
	}
	return nil
}

func tierShareChart(title string, d *report.Data) (template.HTML, error) {
	p := newPlot("", "share (%)")
	var names []string
	vals := [][]float64{{}, {}}
	for _, t := range d.Tiers {
		names = append(names, t.Name)
		vals[0] = append(vals[0], t.CustomerShare*100)
		vals[1] = append(vals[1], t.ValueShare*100)
	}
	p.Add(plotter.NewGrid())
	if err := groupedBars(p, names, []string{"customers", "value"}, vals, false); err != nil {
		return "", err
	}
	p.Y.Min, p.Y.Max = 0, 105
	return svgOf(p, title, 11*vg.Centimeter, 8*vg.Centimeter)
}

func quadrantChart(title string, d *report.Data) (template.HTML, error) {
	q := d.Quadrant
	p := newPlot("relationship length (months)", fmt.Sprintf("total CLV (%s), log scale", d.Currency))
	p.Add(plotter.NewGrid())
	minY := math.Inf(1)
	maxX, maxY := 0.0, 0.0
	for _, pt := range q.Points {
		if pt.CLV > 0 {
			minY = math.Min(minY, pt.CLV)
			maxY = math.Max(maxY, pt.CLV)
		}
		maxX = math.Max(maxX, pt.Months)
	}
	if math.IsInf(minY, 1) {
		return "", nil
	}
	floor := minY / 2 // customers at 0 sit on the floor of the log axis
	for i, cell := range q.Cells {
		var xys plotter.XYs
		for _, pt := range q.Points {
			if pt.Cell == cell.Name {
				xys = append(xys, plotter.XY{X: pt.Months, Y: math.Max(pt.CLV, floor)})
			}
		}
		if len(xys) == 0 {
			continue
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return "", err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: withAlpha(palette[i%len(palette)], 0x99), Radius: vg.Points(1.6), Shape: draw.CircleGlyph{}}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("%s (%s)", cell.Name, thousands(int64(cell.Customers))), s)
	}
	th := math.Max(q.CLVThreshold.InexactFloat64(), floor)
	for _, seg := range []plotter.XYs{{{X: 0, Y: th}, {X: maxX, Y: th}}, {{X: q.MonthsThreshold, Y: floor}, {X: q.MonthsThreshold, Y: maxY}}} {
		l, err := plotter.NewLine(seg)
		if err != nil {
			return "", err
		}
		l.LineStyle = draw.LineStyle{Color: colInk, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
		p.Add(l)
	}
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = moneyTicks{log: true}
	p.Y.Min, p.Y.Max = floor, maxY*1.5
	p.X.Min = 0
	p.Legend.Left = true
	return svgOf(p, title, 17*vg.Centimeter, 10*vg.Centimeter)
}

func withAlpha(c color.Color, a uint8) color.Color {
	r, g, b, _ := c.RGBA()
	return color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), a}
}

func acquisitionChart(title string, d *report.Data) (template.HTML, error) {
	a := d.Acquisition
	rows := append([]report.AcquisitionRow{a.Overall}, a.BySource...)
	var names []string
	vals := [][]float64{{}, {}}
	// NominalY puts the first category at the bottom; list sources top down.
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		if r.NewCustomers == 0 {
			continue
		}
		names = append(names, fmt.Sprintf("%s (%d)", strings.ToLower(r.Source), r.NewCustomers))
		vals[0] = append(vals[0], r.BreakEven.InexactFloat64())
		vals[1] = append(vals[1], r.AtTarget.InexactFloat64())
	}
	if len(names) == 0 {
		return "", nil
	}
	p := newPlot(fmt.Sprintf("cost per new customer (%s)", d.Currency), "")
	p.Add(plotter.NewGrid())
	if err := groupedBars(p, names, []string{"break-even (1:1)", "at target " + ratio(a.TargetRatio) + ":1"}, vals, true); err != nil {
		return "", err
	}
	p.X.Min = 0
	for _, v := range vals[0] {
		p.X.Max = math.Max(p.X.Max, v*1.3) // room for the legend
	}
	p.X.Tick.Marker = moneyTicks{}
	h := vg.Length(len(names))*vg.Points(34) + 3*vg.Centimeter
	return svgOf(p, title, 17*vg.Centimeter, h)
}

func costChart(title string, d *report.Data) (template.HTML, error) {
	c := d.CostToServe
	var names []string
	vals := [][]float64{{}, {}, {}}
	for _, r := range c.Rows {
		names = append(names, r.Name)
		vals[0] = append(vals[0], r.Revenue.InexactFloat64())
		vals[1] = append(vals[1], r.AfterMargin.InexactFloat64())
		vals[2] = append(vals[2], r.Profit.InexactFloat64())
	}
	p := newPlot("", fmt.Sprintf("sum over customers (%s)", d.Currency))
	p.Add(plotter.NewGrid())
	series := []string{"revenue", fmt.Sprintf("after %s margin", pct(c.Margin)), fmt.Sprintf("profit (less %s per order)", money2(c.CostPerOrder))}
	if err := groupedBars(p, names, series, vals, false); err != nil {
		return "", err
	}
	p.Y.Min = 0
	for _, v := range vals[0] {
		p.Y.Max = math.Max(p.Y.Max, v*1.35) // room for the legend
	}
	p.Y.Tick.Marker = moneyTicks{}
	p.Legend.Left = true
	return svgOf(p, title, 14*vg.Centimeter, 8*vg.Centimeter)
}

func backtestChart(title string, b *report.BacktestReport) (template.HTML, error) {
	var names []string
	vals := [][]float64{{}, {}}
	for _, dc := range b.Result.Deciles {
		names = append(names, fmt.Sprint(dc.Decile))
		vals[0] = append(vals[0], dc.MeanPredicted)
		vals[1] = append(vals[1], dc.MeanActual)
	}
	p := newPlot("decile of customers by predicted purchases (1 = most)", "purchases per customer")
	p.Add(plotter.NewGrid())
	if err := groupedBars(p, names, []string{"predicted", "actual"}, vals, false); err != nil {
		return "", err
	}
	p.Y.Min = 0
	p.Legend.Left = false
	return svgOf(p, title, 14*vg.Centimeter, 8*vg.Centimeter)
}

// rfmHeatmap draws the recency x frequency grid as SVG: one cell per score
// pair, coloured by average revenue, labelled with it and the customer
// count.
func rfmHeatmap(title string, d *report.Data) template.HTML {
	const cell, left, top = 96, 56, 20
	maxAvg := 0.0
	for _, row := range d.RFM.Cells {
		for _, c := range row {
			maxAvg = math.Max(maxAvg, c.AvgRevenue.InexactFloat64())
		}
	}
	var b strings.Builder
	w, h := left+5*cell+10, top+5*cell+50
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="100%%" role="img" class="chart" xmlns="http://www.w3.org/2000/svg" font-family="Liberation Sans, Arial, Helvetica, sans-serif">`, w, h)
	fmt.Fprintf(&b, `<title>%s</title>`, template.HTMLEscapeString(title))
	for r := 5; r >= 1; r-- {
		y := top + (5-r)*cell
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="end" fill="#2d3748">R%d</text>`, left-8, y+cell/2+4, r)
		for f := 1; f <= 5; f++ {
			c := d.RFM.Cells[r-1][f-1]
			x := left + (f-1)*cell
			fill, ink := "#f7fafc", "#a0aec0"
			if c.Customers > 0 && maxAvg > 0 {
				fill, ink = heatColour(c.AvgRevenue.InexactFloat64() / maxAvg)
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#fff" stroke-width="2"/>`, x, y, cell, cell, fill)
			if c.Customers > 0 {
				fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="15" font-weight="bold" text-anchor="middle" fill="%s">%s</text>`, x+cell/2, y+cell/2, ink, template.HTMLEscapeString(money(c.AvgRevenue)))
				fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11" text-anchor="middle" fill="%s">%s customers</text>`, x+cell/2, y+cell/2+18, ink, thousands(int64(c.Customers)))
			}
		}
	}
	for f := 1; f <= 5; f++ {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="13" text-anchor="middle" fill="#2d3748">F%d</text>`, left+(f-1)*cell+cell/2, top+5*cell+18, f)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="middle" fill="#4a5568">frequency score (5 = most orders) → ; recency score ↑ (5 = bought most recently)</text>`, left+5*cell/2, top+5*cell+40)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// heatColour maps 0..1 to a white-to-blue scale and a readable text colour.
func heatColour(t float64) (fill, ink string) {
	t = math.Max(0, math.Min(1, t))
	t = math.Sqrt(t) // spread the many low cells apart
	lerp := func(a, b float64) int { return int(math.Round(a + (b-a)*t)) }
	fill = fmt.Sprintf("#%02x%02x%02x", lerp(0xeb, 0x1a), lerp(0xf4, 0x43), lerp(0xff, 0x8a))
	ink = "#1a202c"
	if t > 0.55 {
		ink = "#ffffff"
	}
	return fill, ink
}

// heatStyle is the inline style of a table cell shaded by n out of max.
func heatStyle(n, max int) template.CSS {
	if max == 0 || n == 0 {
		return ""
	}
	fill, ink := heatColour(float64(n) / float64(max))
	return template.CSS(fmt.Sprintf("background:%s;color:%s", fill, ink))
}
