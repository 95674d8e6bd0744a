package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// customerUnit is what a customer is for one pass of compute and
// write-back: a contact (always), or a company (companies: true), each with
// its own results, written values, history, model and breaker.
type customerUnit struct {
	kind   string // "contact" or "company", in messages
	plural string // HubSpot's object type: "contacts" or "companies"
	// modelKey is the store meta key of the unit's stored model.
	modelKey string
	// basisKey and breakerKey are the meta keys of the unit's compute
	// basis and the circuit breaker's base counts (see basis.go).
	basisKey, breakerKey string
}

var (
	contactsUnit = customerUnit{kind: "contact", plural: "contacts", modelKey: MetaModel,
		basisKey: "compute_basis", breakerKey: "breaker_base"}
	companiesUnit = customerUnit{kind: "company", plural: "companies", modelKey: MetaCompanyModel,
		basisKey: "company_compute_basis", breakerKey: "company_breaker_base"}
)

// MetaCompanyModel is the store meta key holding the companies' own
// StoredModel (companies: true).
const MetaCompanyModel = "company_model"

// unitOf returns the runner's customer unit.
func (r *Runner) unitOf() customerUnit {
	if r.unit == nil {
		return contactsUnit
	}
	return *r.unit
}

func (r *Runner) companies() bool { return r.unit != nil && r.unit.kind == companiesUnit.kind }

// objects is HubSpot's API of the runner's customers.
func (r *Runner) objects() Objects {
	if r.companies() {
		return r.Client.Companies
	}
	return r.Client.Contacts
}

// orders returns a customer's orders from its deals: a contact's by the
// attribution rule, a company's every deal whose primary company it is
// (once, however many of its contacts the deal lists).
func (r *Runner) orders(rules DealRules, id string, deals []state.Deal, asOf time.Time) []clv.Order {
	if r.companies() {
		return rules.CompanyOrders(id, deals, asOf)
	}
	return rules.Orders(id, deals, asOf)
}

// companyStore is a state file that can show companies as the customers
// (*state.Store).
type companyStore interface {
	CompanyUnit() *state.Store
}

// companyPass computes and writes the companies' values (companies: true):
// the same outputs, damping, circuit breaker and outcome rules as the
// contacts', on the company unit of the state file, with the companies' own
// model and output properties. Its account is rep.Companies.
func (r *Runner) companyPass(ctx context.Context, o RunOptions, plan pullPlan, runID uint64, rules DealRules, rep *Summary) error {
	cs, ok := r.Store.(companyStore)
	if !ok {
		return errors.New("companies: the state store cannot hold company values")
	}
	cr := *r
	cr.Store, cr.unit = cs.CompanyUnit(), &companiesUnit
	if r.Progress != nil {
		cr.Progress = func(phase string, done, total int) { r.Progress("companies "+phase, done, total) }
	}
	crep := &Summary{RunID: rep.RunID, Mode: rep.Mode, Reason: rep.Reason, DryRun: rep.DryRun, Started: rep.Started}
	rep.Companies = crep
	defer func() {
		// The run log keeps the refused company writes with the contacts'.
		room := max(0, 200-len(rep.WarningSample))
		rep.WarningSample = append(rep.WarningSample, crep.WarningSample[:min(room, len(crep.WarningSample))]...)
	}()
	var err error
	if crep.Setup, err = SetupObject(ctx, r.Client.Properties, companiesUnit.plural, r.Config, o.SkipSetup || o.DryRun); err != nil {
		return fmt.Errorf("set up company output properties: %w", err)
	}
	var leftOut map[config.OutputKey]bool
	for _, key := range crep.Setup.WrongType {
		if leftOut == nil {
			leftOut = map[config.OutputKey]bool{}
		}
		leftOut[key] = true
		crep.LeftOut = append(crep.LeftOut, config.Problem{Key: "outputs.properties." + string(key),
			Msg: fmt.Sprintf("the company property %s has another type than clvsync writes", r.Config.Property(key)),
			Fix: "fix or delete the company property in HubSpot (clvsync never changes an existing property's type), or rename the output"})
	}
	if err := cr.computeAndWrite(ctx, o, plan, runID, rules, leftOut, crep); err != nil {
		return fmt.Errorf("companies: %w", err)
	}
	r.Logger.Info("companies", "customers", crep.Customers, "model", crep.Model, "changed", crep.Changed,
		"written", crep.Written, "failed", crep.Failed)
	if err := cr.verdict(crep); err != nil {
		return fmt.Errorf("companies: %w", err)
	}
	return nil
}
