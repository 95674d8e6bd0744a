package fakehub

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// ProcessParams are the parameters of the buy-till-you-die process behind
// one acquisition source's customers, in weeks:
//
//   - purchase rate while alive λ ~ Gamma(shape R, rate Alpha) per week;
//   - after each repeat purchase the customer drops out with probability
//     p ~ Beta(A, B) (BG/NBD);
//   - each order's value in the home currency is Gamma(shape P, rate ν)
//     with ν ~ Gamma(shape Q, rate Gamma) per customer (Gamma-Gamma).
//
// The first purchase happens within three days of the contact's creation.
type ProcessParams struct {
	R, Alpha float64
	A, B     float64
	P, Q     float64
	Gamma    float64
	// BuyShare is the share of the source's contacts who ever buy.
	BuyShare float64
	// Mix is the source's share of all contacts.
	Mix float64
}

// TrueParams are the parameters the seeded portal was generated with, so
// tests can check that a fitted model recovers them roughly.
type TrueParams struct {
	// BySource maps hs_analytics_source to its process parameters.
	BySource map[string]ProcessParams
	// Sources lists the sources in generation order.
	Sources []string
	// Currencies lists deal currencies with their share of customers.
	Currencies map[string]float64
	// Whales are contact ids forced to have more than 100 won deals; their
	// purchases do not follow the process.
	Whales []string
	// YearsOfHistory is how far before Anchor contacts were created.
	YearsOfHistory float64
}

// SeedSources are the acquisition sources seeded portals use, with their
// process parameters: REFERRALS and OFFLINE customers are the best,
// PAID_SOCIAL and SOCIAL_MEDIA the worst.
var SeedSources = []struct {
	Name   string
	Params ProcessParams
}{
	{"ORGANIC_SEARCH", ProcessParams{R: 0.9, Alpha: 25, A: 0.8, B: 4, P: 6, Q: 4, Gamma: 300, BuyShare: 0.85, Mix: 0.22}},
	{"PAID_SEARCH", ProcessParams{R: 0.8, Alpha: 30, A: 0.9, B: 3, P: 5, Q: 4, Gamma: 260, BuyShare: 0.8, Mix: 0.18}},
	{"EMAIL_MARKETING", ProcessParams{R: 1.2, Alpha: 22, A: 0.7, B: 5, P: 6, Q: 4, Gamma: 320, BuyShare: 0.9, Mix: 0.12}},
	{"SOCIAL_MEDIA", ProcessParams{R: 0.7, Alpha: 35, A: 1.0, B: 3, P: 5, Q: 4, Gamma: 210, BuyShare: 0.75, Mix: 0.10}},
	{"REFERRALS", ProcessParams{R: 1.3, Alpha: 20, A: 0.6, B: 6, P: 6, Q: 4, Gamma: 400, BuyShare: 0.9, Mix: 0.10}},
	{"DIRECT_TRAFFIC", ProcessParams{R: 1.0, Alpha: 26, A: 0.8, B: 4, P: 6, Q: 4, Gamma: 300, BuyShare: 0.85, Mix: 0.14}},
	{"OFFLINE", ProcessParams{R: 1.1, Alpha: 24, A: 0.7, B: 5, P: 7, Q: 4, Gamma: 420, BuyShare: 0.9, Mix: 0.06}},
	{"PAID_SOCIAL", ProcessParams{R: 0.6, Alpha: 40, A: 1.1, B: 2.5, P: 4, Q: 4, Gamma: 190, BuyShare: 0.7, Mix: 0.08}},
}

var seedCurrencies = []struct {
	code  string
	share float64
}{{"USD", 0.6}, {"EUR", 0.2}, {"GBP", 0.12}, {"CAD", 0.08}}

const (
	weekMS = int64(7 * 24 * time.Hour / time.Millisecond)
	dayMS  = int64(24 * time.Hour / time.Millisecond)
)

var firstNames = []string{"Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara",
	"Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Ximena", "Yusuf", "Zoe"}
var lastNames = []string{"Adams", "Becker", "Costa", "Dubois", "Evans", "Fischer", "Garcia", "Horvat", "Ito", "Jensen",
	"Kowalski", "Larsen", "Moreau", "Nguyen", "Okafor", "Petrov", "Quispe", "Rossi", "Silva", "Tanaka", "Unger",
	"Varga", "Weber", "Xu", "Yilmaz", "Zimmermann"}
var companyWords = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Vandelay", "Stark", "Wayne", "Tyrell",
	"Cyberdyne", "Soylent", "Wonka", "Aperture", "Massive", "Pied Piper", "Gringotts"}

// gammaRand draws Gamma(shape, rate) (Marsaglia & Tsang).
func gammaRand(r *rand.Rand, shape, rate float64) float64 {
	if shape < 1 {
		return gammaRand(r, shape+1, rate) * math.Pow(r.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v / rate
		}
	}
}

func betaRand(r *rand.Rand, a, b float64) float64 {
	x := gammaRand(r, a, 1)
	y := gammaRand(r, b, 1)
	return x / (x + y)
}

type seedContact struct {
	created   int64
	src       int
	first     string
	last      string
	company   int // index into companies, -1 none
	currency  string
	dupOf     int // index of the contact this one duplicates (merged into it), -1 none
	archived  bool
	id        int64
	dealCount int
}

type seedDeal struct {
	contact  int
	company  int
	created  int64
	updated  int64
	closed   int64 // close date ms; 0 = none
	stage    string
	amount   string
	currency string
	n        int
	archived bool
	id       int64
}

// seed generates the portal. It runs once, from New, before serving.
func (h *Hub) seed() {
	n := h.cfg.Contacts
	anchor := h.cfg.Anchor.UnixMilli()
	h.TrueParams = TrueParams{BySource: map[string]ProcessParams{}, Currencies: map[string]float64{}, YearsOfHistory: 4}
	for _, s := range SeedSources {
		h.TrueParams.BySource[s.Name] = s.Params
		h.TrueParams.Sources = append(h.TrueParams.Sources, s.Name)
	}
	for _, c := range seedCurrencies {
		h.TrueParams.Currencies[c.code] = c.share
	}
	h.lastMod = anchor
	if n == 0 {
		return
	}
	rng := rand.New(rand.NewPCG(uint64(h.cfg.Seed), uint64(n)^uint64(anchor)))
	span := int64(4 * 365.25 * float64(dayMS))
	start := anchor - span

	nCompanies := max(1, n/4)
	compCreated := make([]int64, nCompanies)
	for i := range compCreated {
		compCreated[i] = start - int64(rng.Float64()*float64(180*dayMS))
	}
	contacts := make([]seedContact, n)
	for i := range contacts {
		c := &contacts[i]
		// More contacts arrive in recent years (the portal grows).
		c.created = start + int64(math.Pow(rng.Float64(), 0.75)*float64(span-dayMS))
		u := rng.Float64()
		for j, s := range SeedSources {
			if u < s.Params.Mix || j == len(SeedSources)-1 {
				c.src = j
				break
			}
			u -= s.Params.Mix
		}
		c.first = firstNames[rng.IntN(len(firstNames))]
		c.last = lastNames[rng.IntN(len(lastNames))]
		c.company = -1
		if rng.Float64() < 0.7 {
			c.company = rng.IntN(nCompanies)
		}
		u = rng.Float64()
		for _, cur := range seedCurrencies {
			c.currency = cur.code
			if u < cur.share {
				break
			}
			u -= cur.share
		}
		c.dupOf = -1
	}
	// Duplicates, merged into the original later: ~0.5% of contacts.
	for i := 1; i < n; i++ {
		if rng.Float64() < 0.005 {
			o := rng.IntN(i)
			if contacts[o].dupOf == -1 && contacts[i].dupOf == -1 && o != i {
				contacts[i].dupOf = o
				contacts[i].first, contacts[i].last = contacts[o].first, contacts[o].last
				contacts[i].src, contacts[i].currency, contacts[i].company = contacts[o].src, contacts[o].currency, contacts[o].company
			}
		}
	}
	whale := func(i int) bool { return n > 3 && (i == 3 || (i%2000 == 1999)) }

	var deals []seedDeal
	addDeal := func(ci int, created, closed int64, stage string, amount decimal.Decimal, hasAmount bool) {
		c := &contacts[ci]
		d := seedDeal{contact: ci, company: c.company, created: min(created, anchor), closed: closed, stage: stage, currency: c.currency}
		if hasAmount {
			rate := h.cfg.ExchangeRates[c.currency]
			if rate.IsZero() {
				rate = decimal.NewFromInt(1)
			}
			d.amount = amount.DivRound(rate, 2).StringFixed(2)
		}
		last := max(d.created, min(closed, anchor))
		d.updated = min(anchor, last+int64(rng.Float64()*float64(2*dayMS)))
		c.dealCount++
		d.n = c.dealCount
		deals = append(deals, d)
	}
	for i := range contacts {
		c := &contacts[i]
		p := SeedSources[c.src].Params
		if whale(i) {
			k := 101 + rng.IntN(60)
			for j := range k {
				t := c.created + int64(float64(anchor-c.created)*float64(j)/float64(k))
				addDeal(i, t-dayMS, t, "closedwon", decimal.NewFromInt(int64(100+rng.IntN(900))), true)
			}
			continue
		}
		if rng.Float64() < p.BuyShare {
			lambda := gammaRand(rng, p.R, p.Alpha) // per week
			drop := betaRand(rng, p.A, p.B)
			nu := gammaRand(rng, p.Q, p.Gamma)
			t := c.created + int64(rng.Float64()*float64(3*dayMS))
			for k := 0; t <= anchor; k++ {
				z := gammaRand(rng, p.P, nu)
				amt := decimal.NewFromFloat(z).Round(2)
				closed := t
				hasAmount := rng.Float64() >= 0.005
				switch {
				case rng.Float64() < 0.003:
					closed = 0 // bad data: no close date
				case rng.Float64() < 0.002:
					closed = anchor + int64(1+rng.IntN(90))*dayMS // bad data: close date in the future
				}
				created := t - int64(rng.Float64()*float64(20*dayMS))
				addDeal(i, max(created, c.created), closed, "closedwon", amt, hasAmount)
				// BG/NBD: the customer may drop out after each repeat purchase.
				if k > 0 && rng.Float64() < drop {
					break
				}
				if lambda <= 0 {
					break
				}
				gap := rng.ExpFloat64() / lambda * float64(weekMS)
				if gap > float64(anchor-t)+1 {
					break
				}
				t += int64(gap) + 1
			}
		}
		// Lost deals and open deals.
		for rng.Float64() < 0.3 {
			t := c.created + int64(rng.Float64()*float64(anchor-c.created))
			addDeal(i, t-int64(rng.Float64()*float64(30*dayMS)), t, "closedlost", decimal.NewFromInt(int64(50+rng.IntN(5000))), true)
		}
		if rng.Float64() < 0.12 {
			t := anchor - int64(rng.Float64()*float64(60*dayMS))
			stages := []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent"}
			addDeal(i, max(t, c.created), anchor+int64(1+rng.IntN(120))*dayMS, stages[rng.IntN(len(stages))],
				decimal.NewFromInt(int64(100+rng.IntN(3000))), rng.Float64() > 0.1)
		}
	}
	for i := range deals {
		deals[i].archived = rng.Float64() < 0.003
	}
	for i := range contacts {
		contacts[i].archived = contacts[i].dupOf == -1 && rng.Float64() < 0.005 && !whale(i)
	}

	// Ids follow creation order, as in HubSpot.
	compOrder := make([]int, nCompanies)
	for i := range compOrder {
		compOrder[i] = i
	}
	slices.SortStableFunc(compOrder, func(a, b int) int { return cmpOrdered(compCreated[a], compCreated[b]) })
	compIDs := make([]int64, nCompanies)
	cs := h.schemas[typeCompany]
	h.objects[typeCompany].recs = make([]record, 0, nCompanies)
	for _, ci := range compOrder {
		id := h.newID()
		compIDs[ci] = id
		name := companyWords[ci%len(companyWords)] + " " + strconv.Itoa(ci+1)
		dom := fmt.Sprintf("%s%d.example.com", lowerNoSpace(companyWords[ci%len(companyWords)]), ci+1)
		props := encodeProps([]kv{{cs.byName["name"], name}, {cs.byName["domain"], dom}})
		upd := min(anchor, compCreated[ci]+int64(rng.Float64()*float64(30*dayMS)))
		h.objects[typeCompany].recs = append(h.objects[typeCompany].recs, record{id: id, created: compCreated[ci], updated: upd, props: props})
	}

	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmpOrdered(contacts[a].created, contacts[b].created) })
	ks := h.schemas[typeContact]
	h.objects[typeContact].recs = make([]record, 0, n)
	for _, ci := range order {
		c := &contacts[ci]
		c.id = h.newID()
		email := fmt.Sprintf("%s.%s%d@example.com", lowerNoSpace(c.first), lowerNoSpace(c.last), ci+1)
		stage := "lead"
		if c.dealCount > 0 {
			stage = "customer"
		}
		props := encodeProps([]kv{{ks.byName["email"], email}, {ks.byName["firstname"], c.first}, {ks.byName["lastname"], c.last},
			{ks.byName["hs_analytics_source"], SeedSources[c.src].Name}, {ks.byName["lifecyclestage"], stage}})
		upd := min(anchor, c.created+int64(rng.Float64()*float64(10*dayMS)))
		h.objects[typeContact].recs = append(h.objects[typeContact].recs, record{id: c.id, created: c.created, updated: upd, props: props})
	}

	slices.SortStableFunc(deals, func(a, b seedDeal) int { return cmpOrdered(a.created, b.created) })
	ds := h.schemas[typeDeal]
	h.objects[typeDeal].recs = make([]record, 0, len(deals))
	for i := range deals {
		d := &deals[i]
		d.id = h.newID()
		c := &contacts[d.contact]
		name := fmt.Sprintf("%s %s order %d", c.first, c.last, d.n)
		kvs := []kv{{ds.byName["dealname"], name}, {ds.byName["pipeline"], "default"}, {ds.byName["dealstage"], d.stage},
			{ds.byName["deal_currency_code"], d.currency}}
		if d.amount != "" {
			kvs = append(kvs, kv{ds.byName["amount"], d.amount})
		}
		if d.closed != 0 {
			kvs = append(kvs, kv{ds.byName["closedate"], fmtMS(d.closed)})
		}
		h.objects[typeDeal].recs = append(h.objects[typeDeal].recs, record{id: d.id, created: d.created, updated: max(d.updated, d.created), props: encodeProps(kvs)})
	}

	// Associations (records are final now, so pointers stay valid).
	for i := range contacts {
		c := &contacts[i]
		if c.company >= 0 {
			h.associate(typeContact, c.id, typeCompany, compIDs[c.company], true)
		}
	}
	for i := range deals {
		d := &deals[i]
		h.associate(typeDeal, d.id, typeContact, contacts[d.contact].id, false)
		if d.company >= 0 {
			h.associate(typeDeal, d.id, typeCompany, compIDs[d.company], true)
		}
	}
	for _, ci := range order {
		if whale(ci) {
			h.TrueParams.Whales = append(h.TrueParams.Whales, strconv.FormatInt(contacts[ci].id, 10))
		}
	}

	// Merges and archives, stamped at or before the anchor.
	for _, ci := range order {
		c := &contacts[ci]
		if c.dupOf < 0 {
			continue
		}
		o := &contacts[c.dupOf]
		at := min(anchor, max(c.created, o.created)+int64(rng.Float64()*float64(30*dayMS)))
		h.mergeLocked(typeContact, strconv.FormatInt(o.id, 10), strconv.FormatInt(c.id, 10), at)
	}
	for i := range contacts {
		if c := &contacts[i]; c.archived {
			r := h.objects[typeContact].find(c.id)
			r.archivedAt = min(anchor, r.updated+int64(rng.Float64()*float64(60*dayMS)))
			r.archivedAt = max(r.archivedAt, r.updated)
		}
	}
	for i := range deals {
		if d := &deals[i]; d.archived {
			r := h.objects[typeDeal].find(d.id)
			r.archivedAt = max(r.updated, min(anchor, r.updated+int64(rng.Float64()*float64(60*dayMS))))
		}
	}
	h.stats = Stats{Requests: map[string]int64{}}
}

func lowerNoSpace(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ':
		case ch >= 'A' && ch <= 'Z':
			b = append(b, ch+'a'-'A')
		default:
			b = append(b, ch)
		}
	}
	return string(b)
}
