// Package clv computes customer lifetime value (CLV) and the segments built on
// it. It is pure math: orders and configuration in, decimals out. It does no
// I/O and no logging, never reads the clock (every function takes asOf), and
// knows nothing about HubSpot.
//
// # Money and rounding
//
// Money is github.com/shopspring/decimal wherever it is summed or returned;
// floats appear only in model parameters, probabilities and counts of periods.
// Money is kept at full precision internally (divisions use 16 decimal places)
// and rounded once, at output, to 2 decimal places half away from zero:
// RoundMoney(d), which equals d.Round(2), or d.StringFixed(2) for strings
// (2.345 -> 2.35, -2.345 -> -2.35). Banker's rounding is not used.
//
// # Historical CLV
//
// Historical sums a customer's orders up to asOf. Revenue includes refunds
// (negative amounts); Orders counts only purchases (amount >= 0). Profit =
// Revenue x margin - cost per order x Orders, where margin is a fraction
// (0.3 = 30 % gross margin).
//
// # Simple formulas
//
// NewSimpleBase estimates, from every customer's history, the two formulas
// marketers use: profit per order x purchases per customer over a period
// (80 x 6 = 480 over 36 months), and value per period x average lifespan
// (50 a month x 36 months = 1800). Periods are SimpleConfig.Unit (months by
// default).
//
// Churn is estimated from the observed base as a discrete-time (geometric)
// hazard with right-censoring: a customer counts as churned when their last
// purchase is more than InactiveAfter periods before asOf. Each buyer is at
// risk from the period of their first purchase to their last purchase if
// churned, or to asOf if still active, plus one period for the first
// purchase itself. The churn rate per period is churned customers divided by
// customer-periods at risk (the maximum-likelihood estimate for a geometric
// lifetime, and the "churned / customer-months" ratio used in SaaS
// reporting); the average lifespan is its reciprocal, capped at MaxLifespan
// (and set to it when nobody has churned). Dating a churn at the last
// purchase slightly overstates churn; the inactivity rule understates it for
// recent customers. Purchases per customer over the period are the purchase
// rate while active times the expected active periods within it,
// (1-(1-c)^P)/c, so the two formulas agree as P grows.
//
// Per customer, SimpleBase.Customer uses the customer's own profit per order,
// purchase rate and value per period once they have MinOrders orders over
// MinSpan periods, and the base averages otherwise (FlagShortHistory). An
// active customer's lifespan is the base lifespan or their own span so far,
// whichever is longer; a churned customer is worth their historical profit.
//
// # Subscriptions
//
// For recurring revenue, FitSBG fits the shifted-beta-geometric model of
// Fader & Hardie (2007) to cohort survival, and SubscriptionCLV multiplies
// value per period by the expected discounted number of future payments
// (DERL, Fader & Hardie 2010), optionally limited to a horizon.
//
// # Segments
//
// AssignTiers ranks customers into CLV tiers by percentile (default top 20 %,
// middle 60 %, bottom 20 %) with optional hysteresis; ScoreRFM gives quintile
// R, F, M scores and named segments from a replaceable rule list; Quadrant
// crosses CLV with relationship length; ChurnRiskConfig.Risk bands P(alive);
// Trend compares a CLV with an earlier run's.
//
// # Guardrails
//
// No CLV that clv emits is NaN, infinite or negative: model outputs pass
// through finiteNonNeg (Prediction) and DecimalCLV, money through
// ClampNonNegative, and clamped values carry Flags saying what happened. When the data cannot support a probabilistic fit, callers use
// the simple formulas and attach FallbackToSimple(reason).
package clv
