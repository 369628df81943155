package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// renderSVG draws the scale curves: for lookups (by connection size) and
// member changes (by group size), each curve's time relative to its
// smallest point on the embedded store, and DynamoDB's request units
// relative to its smallest point, on a logarithmic size axis, with the 1.1×
// target as a band.
func renderSVG(r *results) string {
	const W, H = 960, 420
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", W, H)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" text-anchor="middle" font-weight="bold">scimgate scale curves: cost relative to the smallest point (1.0 = flat; shaded: the 1.1× target)</text>`+"\n", W/2)
	sq, dd := sqliteCurves(r), ddbCurves(r)
	panels := []struct {
		title string
		names []string
		x0    int
	}{
		{"lookups, by users in the connection", []string{"GET by id", "`userName eq` lookup"}, 60},
		{"one member added or removed, by group size", []string{"add one member", "remove one member"}, 540},
	}
	colors := map[string]string{"GET by id": "#1f77b4", "`userName eq` lookup": "#ff7f0e", "add one member": "#2ca02c", "remove one member": "#d62728"}
	yMax := 2.0
	for _, c := range sq {
		yMax = math.Max(yMax, math.Ceil(rel(c.values)[len(c.values)-1]*2)/2+0.5)
	}
	for _, p := range panels {
		const pw, ph, top = 380, 300, 60
		x0 := p.x0
		// x range over all curves of this panel
		lo, hi := math.Inf(1), 0.0
		for _, set := range [][]curve{sq, dd} {
			for _, c := range set {
				if !contains(p.names, c.name) {
					continue
				}
				for _, x := range c.xs {
					lo, hi = math.Min(lo, x), math.Max(hi, x)
				}
			}
		}
		if hi == 0 {
			continue
		}
		lx0, lx1 := math.Log10(lo), math.Log10(hi)
		if lx1 == lx0 {
			lx1 = lx0 + 1
		}
		px := func(x float64) float64 { return float64(x0) + (math.Log10(x)-lx0)/(lx1-lx0)*pw }
		py := func(y float64) float64 { return top + ph - y/yMax*ph }
		fmt.Fprintf(&b, `<text x="%d" y="48" font-size="13" text-anchor="middle">%s</text>`+"\n", x0+pw/2, html.EscapeString(p.title))
		// target band and axes
		fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="#2ca02c" fill-opacity="0.12"/>`+"\n", x0, py(1.1), pw, py(1.0)-py(1.1))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#888" stroke-dasharray="4 3"/>`+"\n", x0, py(1), x0+pw, py(1))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/><line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n",
			x0, top, x0, top+ph, x0, top+ph, x0+pw, top+ph)
		for y := 0.0; y <= yMax+1e-9; y += 0.5 {
			fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%.1f×</text>`+"\n", x0-6, py(y)+4, y)
		}
		for e := math.Floor(lx0); e <= math.Ceil(lx1); e++ {
			x := math.Pow(10, e)
			if x < lo*0.999 || x > hi*1.001 {
				continue
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(x), top+ph+16, label(int(x)))
		}
		for _, x := range []float64{lo, hi} {
			if math.Log10(x) != math.Floor(math.Log10(x)) {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", px(x), top+ph+16, label(int(x)))
			}
		}
		legendY := top + ph + 36
		li := 0
		draw := func(c curve, ys []float64, dashed bool, name string) {
			var pts []string
			for i, x := range c.xs {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(x), py(math.Min(ys[i], yMax))))
			}
			dash := ""
			if dashed {
				dash = ` stroke-dasharray="6 4"`
			}
			col := colors[c.name]
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", strings.Join(pts, " "), col, dash)
			for i, x := range c.xs {
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %.2f×</title></circle>`+"\n",
					px(x), py(math.Min(ys[i], yMax)), col, html.EscapeString(name), c.labels[i], ys[i])
			}
			lx := x0 + (li%2)*190
			ly := legendY + (li/2)*16
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/><text x="%d" y="%d">%s</text>`+"\n",
				lx, ly-4, lx+22, ly-4, col, dash, lx+28, ly, html.EscapeString(name))
			li++
		}
		for _, c := range sq {
			if contains(p.names, c.name) {
				draw(c, rel(c.values), false, "embedded: "+strings.Trim(c.name, "`")+" (time)")
			}
		}
		for _, c := range dd {
			if contains(p.names, c.name) {
				units := make([]float64, len(c.rru))
				for i := range units {
					units[i] = c.rru[i] + c.wru[i]
				}
				draw(c, rel(units), true, "DynamoDB: "+strings.Trim(c.name, "`")+" (RRU+WRU)")
			}
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// rel divides each value by the first.
func rel(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		if v[0] != 0 {
			out[i] = x / v[0]
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
