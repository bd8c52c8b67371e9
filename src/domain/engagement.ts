/**
 * The engagement score: whom to call first. Defined here, once; the SQL form is the
 * parameterised view `engagement_scores` (clickhouse/0040_create_engagement_scores_view.sql),
 * which the admin API and Grafana select from with the parameters below. A test holds this
 * function and the view to the same numbers.
 *
 * ```
 * score   = recency × depth × dwell
 * recency = 2^(−ageDays / halfLifeDays)            in (0, 1]; halves every half-life
 * depth   = log2(1 + pageViews + milestoneWeight × scrollMilestones)
 * dwell   = log2(2 + engagedSeconds / dwellUnitSeconds)   ≥ 1, so missing dwell never zeroes a score
 * ```
 *
 * - `ageDays`: time from the newest event of the person (or unbound visitor) to the moment the
 *   score is computed, never negative.
 * - `pageViews`: page views, all time; `scrollMilestones`: scroll events carrying a milestone
 *   (25/50/75/100 %, each sent once per page view); `engagedSeconds`: the sum of the visible
 *   dwell each page view reports at its end.
 * - Depth and dwell grow with the logarithm, so the tenth page view adds less than the second:
 *   a person who read three listings closely outranks a crawler-like burst of forty page views.
 *
 * A person is every visitor whose newest identity edge points at them (plus visitors known only
 * from their signed cookie); an unbound visitor is ranked alone.
 */
import type { Account } from './account.js';

export interface EngagementParams {
  /** Recency half-life in days, per account (`engagement.halfLifeDays`). @defaultValue 7 */
  halfLifeDays: number;
  /** Page views one scroll milestone is worth: four milestones = one page view. @defaultValue 0.25 */
  milestoneWeight: number;
  /** Engaged seconds that add one unit to log2(2 + s / unit). @defaultValue 60 */
  dwellUnitSeconds: number;
}

export const ENGAGEMENT_DEFAULTS: Readonly<EngagementParams> = Object.freeze({
  halfLifeDays: 7,
  milestoneWeight: 0.25,
  dwellUnitSeconds: 60,
});

/** The parameters for one account: its half-life, the shared weights. */
export function engagementParams(account: Pick<Account, 'engagement'>): EngagementParams {
  return { ...ENGAGEMENT_DEFAULTS, halfLifeDays: account.engagement?.halfLifeDays ?? ENGAGEMENT_DEFAULTS.halfLifeDays };
}

/** What the score is computed from (one person or unbound visitor). */
export interface EngagementInputs {
  lastSeenMs: number;
  pageViews: number;
  scrollMilestones: number;
  dwellMs: number;
}

/** The score and the three factors beside it, so an operator sees why someone ranks high. */
export interface EngagementFactors {
  ageDays: number;
  recency: number;
  depth: number;
  dwell: number;
  score: number;
}

/** The formula in one line, returned beside every engagement queue. */
export const ENGAGEMENT_FORMULA =
  'score = recency × depth × dwell; recency = 2^(−ageDays/halfLifeDays); depth = log2(1 + pageViews + milestoneWeight × scrollMilestones); dwell = log2(2 + engagedSeconds/dwellUnitSeconds)';

const DAY_MS = 86_400_000;

export function engagementScore(inputs: EngagementInputs, asOfMs: number, params: EngagementParams = ENGAGEMENT_DEFAULTS): EngagementFactors {
  const ageDays = Math.max(0, (asOfMs - inputs.lastSeenMs) / DAY_MS);
  const recency = 2 ** (-ageDays / params.halfLifeDays);
  const depth = Math.log2(1 + inputs.pageViews + params.milestoneWeight * inputs.scrollMilestones);
  const dwell = Math.log2(2 + inputs.dwellMs / 1000 / params.dwellUnitSeconds);
  return { ageDays, recency, depth, dwell, score: recency * depth * dwell };
}

/** Query parameters of the `engagement_scores` view, named as the view declares them. */
export function engagementViewParams(params: EngagementParams, asOfMs: number): Record<string, number> {
  return {
    at_ms: Math.trunc(asOfMs),
    half_life_days: params.halfLifeDays,
    milestone_weight: params.milestoneWeight,
    dwell_unit_s: params.dwellUnitSeconds,
  };
}
