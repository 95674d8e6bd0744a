package sync

import (
	"context"
	"fmt"
	"slices"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/hubspot"
)

// SetupReport says what Setup found and did.
type SetupReport struct {
	GroupCreated    bool
	Created         []string // properties created
	OptionsAdded    map[string][]string
	Problems        []string // existing properties with the wrong type: reported, never changed
	AlreadyComplete bool
}

// segmentOptions returns the enumeration options of each segment output.
func (c Config) segmentOptions() map[string][]string {
	var rfm []string
	for _, rule := range c.Segments.RFM.Rules {
		if !slices.Contains(rfm, rule.Segment) {
			rfm = append(rfm, rule.Segment)
		}
	}
	q := c.quadrantNames()
	return map[string][]string{
		"tier":          c.Segments.Tiers.Names,
		"previous_tier": c.Segments.Tiers.Names,
		"rfm_segment":   rfm,
		"quadrant":      {q[0], q[1], q[2], q[3]},
		"churn_risk":    {"low", "medium", "high"},
		"trend":         {"rising", "stable", "falling", "new"},
		"model":         {"bgnbd", "mbgnbd", "paretonbd", "subscription", "simple"},
	}
}

// quadrantNames returns high/long, high/short, low/long, low/short.
func (c Config) quadrantNames() [4]string {
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

// propertyFor returns the HubSpot definition of an output property.
func (c Config) propertyFor(def OutputDef, options []string) hubspot.PropertyCreate {
	p := hubspot.PropertyCreate{
		Name: c.Property(def.Key), Label: def.Label, GroupName: c.Outputs.Group,
		Description: "Written by clvsync (" + def.Key + "). Do not edit by hand: clvsync overwrites it.",
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

// Setup creates the property group and every output property that is not
// off, idempotently. Existing properties of the wrong type are reported in
// SetupReport.Problems and left alone; segment properties gain any option
// they lack. With checkOnly, nothing is created.
func (r *Runner) Setup(ctx context.Context, checkOnly bool) (SetupReport, error) {
	rep := SetupReport{OptionsAdded: map[string][]string{}}
	groups, err := r.Client.Properties.ListGroups(ctx, "contacts")
	if err != nil {
		return rep, fmt.Errorf("list contact property groups: %w", err)
	}
	if !slices.ContainsFunc(groups, func(g hubspot.PropertyGroup) bool { return g.Name == r.Config.Outputs.Group }) {
		if !checkOnly {
			if _, err := r.Client.Properties.CreateGroup(ctx, "contacts", hubspot.PropertyGroupCreate{Name: r.Config.Outputs.Group, Label: r.Config.Outputs.GroupLabel}); err != nil {
				return rep, fmt.Errorf("create property group %s: %w", r.Config.Outputs.Group, err)
			}
		}
		rep.GroupCreated = true
	}
	existing, err := r.Client.Properties.List(ctx, "contacts", false)
	if err != nil {
		return rep, fmt.Errorf("list contact properties: %w", err)
	}
	byName := map[string]hubspot.Property{}
	for _, p := range existing {
		byName[p.Name] = p
	}
	opts := r.Config.segmentOptions()
	var create []hubspot.PropertyCreate
	for _, def := range outputDefs {
		name := r.Config.Property(def.Key)
		if name == "" {
			continue
		}
		want := r.Config.propertyFor(def, opts[def.Key])
		have, ok := byName[name]
		if !ok {
			rep.Created = append(rep.Created, name)
			create = append(create, want)
			continue
		}
		if have.Type != want.Type {
			rep.Problems = append(rep.Problems, fmt.Sprintf("outputs.properties.%s: HubSpot property %q has type %s, clvsync writes %s; rename the output or fix the property in HubSpot (clvsync never changes an existing property's type)", def.Key, name, have.Type, want.Type))
			continue
		}
		if def.Kind != KindSegment {
			continue
		}
		var missing []string
		for _, o := range want.Options {
			if !slices.ContainsFunc(have.Options, func(h hubspot.Option) bool { return h.Value == o.Value }) {
				missing = append(missing, o.Value)
			}
		}
		if len(missing) == 0 {
			continue
		}
		rep.OptionsAdded[name] = missing
		if checkOnly {
			continue
		}
		all := append([]hubspot.Option(nil), have.Options...)
		for _, m := range missing {
			all = append(all, hubspot.Option{Label: m, Value: m, DisplayOrder: len(all)})
		}
		if _, err := r.Client.Properties.Update(ctx, "contacts", name, hubspot.PropertyUpdate{Options: all}); err != nil {
			return rep, fmt.Errorf("add options %v to property %s: %w", missing, name, err)
		}
	}
	if len(create) > 0 && !checkOnly {
		// One batch request creates every missing property.
		if _, err := r.Client.Properties.BatchCreate(ctx, "contacts", create); err != nil {
			return rep, fmt.Errorf("create properties %v: %w", rep.Created, err)
		}
	}
	rep.AlreadyComplete = !rep.GroupCreated && len(rep.Created) == 0 && len(rep.OptionsAdded) == 0
	return rep, nil
}
