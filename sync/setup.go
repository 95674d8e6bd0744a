package sync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/sync/config"
)

// SetupResult says what Setup found and did.
type SetupResult struct {
	GroupCreated bool
	Created      []string // properties created
	OptionsAdded map[string][]string
	Problems     []string // existing properties with the wrong type: reported, never changed
	// WrongType are the outputs whose existing property has another type
	// (each also in Problems).
	WrongType       []config.OutputKey
	AlreadyComplete bool
}

// Setup creates the property group and every output property of cfg that is
// not off, idempotently. Existing properties of the wrong type are reported
// in SetupResult.Problems and left alone; segment properties gain any option
// they lack. With checkOnly, nothing is created.
func Setup(ctx context.Context, props Properties, cfg config.Config, checkOnly bool) (SetupResult, error) {
	return SetupObject(ctx, props, "contacts", cfg, checkOnly)
}

// SetupObject is Setup on the properties of objectType: "contacts", or
// "companies" for the company values (companies: true).
func SetupObject(ctx context.Context, props Properties, objectType string, cfg config.Config, checkOnly bool) (SetupResult, error) {
	rep := SetupResult{OptionsAdded: map[string][]string{}}
	groups, err := props.ListGroups(ctx, objectType)
	if err != nil {
		return rep, err // the client's error names the call
	}
	if !slices.ContainsFunc(groups, func(g hubspot.PropertyGroup) bool { return g.Name == cfg.Outputs.Group }) {
		if !checkOnly {
			if _, err := props.CreateGroup(ctx, objectType, hubspot.PropertyGroupCreate{Name: cfg.Outputs.Group, Label: cfg.Outputs.GroupLabel}); err != nil && !alreadyExists(err) {
				return rep, fmt.Errorf("create property group %s: %w", cfg.Outputs.Group, err)
			}
		}
		rep.GroupCreated = true
	}
	existing, err := props.List(ctx, objectType, false)
	if err != nil {
		return rep, err
	}
	byName := map[string]hubspot.Property{}
	for _, p := range existing {
		byName[p.Name] = p
	}
	opts := cfg.SegmentOptions()
	var create []hubspot.PropertyCreate
	for _, def := range config.OutputDefs() {
		name := cfg.Property(def.Key)
		if name == "" {
			continue
		}
		want := cfg.PropertyFor(def, opts[def.Key])
		have, ok := byName[name]
		if !ok {
			rep.Created = append(rep.Created, name)
			create = append(create, want)
			continue
		}
		if have.Type != want.Type {
			rep.Problems = append(rep.Problems, fmt.Sprintf("outputs.properties.%s: HubSpot %s property %q has type %s, clvsync writes %s; rename the output or fix the property in HubSpot (clvsync never changes an existing property's type)", def.Key, objectType, name, have.Type, want.Type))
			rep.WrongType = append(rep.WrongType, def.Key)
			continue
		}
		if def.Kind != config.KindSegment {
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
		if _, err := props.Update(ctx, objectType, name, hubspot.PropertyUpdate{Options: all}); err != nil {
			return rep, fmt.Errorf("add options %v to property %s: %w", missing, name, err)
		}
	}
	if len(create) > 0 && !checkOnly {
		// One batch request creates every missing property.
		if _, err := props.BatchCreate(ctx, objectType, create); err != nil {
			// A create whose answer was lost is retried by the client and
			// then meets its own properties: check they are all there.
			if !alreadyExists(err) || !allExist(ctx, props, objectType, create) {
				return rep, fmt.Errorf("create properties %v: %w", rep.Created, err)
			}
		}
	}
	rep.AlreadyComplete = !rep.GroupCreated && len(rep.Created) == 0 && len(rep.OptionsAdded) == 0
	return rep, nil
}

// alreadyExists reports HubSpot's 409 for a property or group that exists.
func alreadyExists(err error) bool {
	var apiErr *hubspot.APIError
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusConflict
}

// allExist reports whether every property of create exists now.
func allExist(ctx context.Context, props Properties, objectType string, create []hubspot.PropertyCreate) bool {
	existing, err := props.List(ctx, objectType, false)
	if err != nil {
		return false
	}
	for _, c := range create {
		if !slices.ContainsFunc(existing, func(p hubspot.Property) bool { return p.Name == c.Name }) {
			return false
		}
	}
	return true
}
