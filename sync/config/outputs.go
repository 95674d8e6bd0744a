package config

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/hubspot"
)

// SegmentOptions returns the enumeration options of each segment output.
func (c Config) SegmentOptions() map[OutputKey][]string {
	var rfm []string
	for _, rule := range c.Segments.RFM.Rules {
		if !slices.Contains(rfm, rule.Segment) {
			rfm = append(rfm, rule.Segment)
		}
	}
	q := c.QuadrantNames()
	return map[OutputKey][]string{
		OutTier:         c.Segments.Tiers.Names,
		OutPreviousTier: c.Segments.Tiers.Names,
		OutRFMSegment:   rfm,
		OutQuadrant:     {q[0], q[1], q[2], q[3]},
		OutChurnRisk:    {string(clv.RiskLow), string(clv.RiskMedium), string(clv.RiskHigh)},
		OutTrend:        {string(clv.TrendRising), string(clv.TrendStable), string(clv.TrendFalling), string(clv.TrendNew)},
		OutModel:        ModelNames(),
		OutConfidence:   confidences(),
	}
}

// QuadrantNames returns the names of the quadrant cells: high/long, high/short, low/long, low/short.
func (c Config) QuadrantNames() [4]string {
	q := c.Segments.Quadrant
	names := [4]string{q.HighLong, q.HighShort, q.LowLong, q.LowShort}
	d := clv.DefaultQuadrantConfig().Names
	defaults := [4]string{d.HighLong, d.HighShort, d.LowLong, d.LowShort}
	for i := range names {
		if names[i] == "" {
			names[i] = defaults[i]
		}
	}
	return names
}

// PropertyFor returns the HubSpot definition of an output property.
func (c Config) PropertyFor(def OutputDef, options []string) hubspot.PropertyCreate {
	p := hubspot.PropertyCreate{
		Name: c.Property(def.Key), Label: def.Label, GroupName: c.Outputs.Group,
		Description: "Written by clvsync (" + string(def.Key) + "). Do not edit by hand: clvsync overwrites it.",
	}
	switch def.Kind {
	case KindMoney:
		p.Type, p.FieldType, p.NumberDisplayHint, p.ShowCurrencySymbol = "number", "number", "currency", true
	case KindNumber:
		p.Type, p.FieldType = "number", "number"
	case KindDate:
		p.Type, p.FieldType = "date", "date"
	case KindDateTime:
		p.Type, p.FieldType = "datetime", "date"
	case KindSegment:
		p.Type, p.FieldType = "enumeration", "select"
		for i, o := range options {
			p.Options = append(p.Options, hubspot.Option{Label: o, Value: o, DisplayOrder: i})
		}
	case KindText:
		p.Type, p.FieldType = "string", "text"
	}
	return p
}

// CLVTiers maps segments.tiers onto clv's tier settings.
func (c Config) CLVTiers() clv.TierConfig {
	t := c.Segments.Tiers
	return clv.TierConfig{Basis: t.Basis, Names: t.Names, Cuts: t.Shares, Margin: t.Hysteresis}
}

// CLVQuadrant maps segments.quadrant onto clv's quadrant settings.
func (c Config) CLVQuadrant() (clv.QuadrantConfig, error) {
	q := c.Segments.Quadrant
	names := c.QuadrantNames()
	out := clv.QuadrantConfig{Names: clv.QuadrantNames{HighLong: names[0], HighShort: names[1], LowLong: names[2], LowShort: names[3]}}
	d, err := q.CLVThresholdAmount()
	if err != nil {
		return out, err
	}
	out.CLVThreshold = d
	if q.TenureMonths != Median {
		v, err := strconv.ParseFloat(q.TenureMonths, 64)
		if err != nil {
			return out, fmt.Errorf("segments.quadrant.tenure_months: %w", err)
		}
		out.MonthsThreshold = &v
	}
	return out, nil
}

func confidences() []string {
	var out []string
	for _, c := range clv.Confidences() {
		out = append(out, string(c))
	}
	return out
}
