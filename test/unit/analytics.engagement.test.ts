import { describe, expect, it } from 'vitest';
import { zAccount } from '../../src/domain/account.js';
import { ENGAGEMENT_DEFAULTS, engagementParams, engagementScore, engagementViewParams } from '../../src/domain/engagement.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 20, 8, 0, 0);

describe('engagement score', () => {
  it('is recency × depth × dwell with the documented defaults', () => {
    // 3.5 days old with a 7-day half-life: recency 2^-0.5.
    const f = engagementScore({ lastSeenMs: NOW - 3.5 * DAY, pageViews: 5, scrollMilestones: 8, dwellMs: 180_000 }, NOW);
    expect(f.ageDays).toBeCloseTo(3.5, 12);
    expect(f.recency).toBeCloseTo(Math.SQRT1_2, 12);
    // depth = log2(1 + 5 + 0.25 × 8) = log2(8) = 3
    expect(f.depth).toBeCloseTo(3, 12);
    // dwell = log2(2 + 180 s / 60 s) = log2(5)
    expect(f.dwell).toBeCloseTo(Math.log2(5), 12);
    expect(f.score).toBeCloseTo(Math.SQRT1_2 * 3 * Math.log2(5), 12);
  });

  it('halves every half-life', () => {
    const inputs = { pageViews: 3, scrollMilestones: 0, dwellMs: 0 };
    const params = { ...ENGAGEMENT_DEFAULTS, halfLifeDays: 2 };
    const fresh = engagementScore({ ...inputs, lastSeenMs: NOW }, NOW, params);
    const old = engagementScore({ ...inputs, lastSeenMs: NOW - 2 * DAY }, NOW, params);
    const older = engagementScore({ ...inputs, lastSeenMs: NOW - 4 * DAY }, NOW, params);
    expect(fresh.recency).toBe(1);
    expect(old.score / fresh.score).toBeCloseTo(0.5, 12);
    expect(older.score / fresh.score).toBeCloseTo(0.25, 12);
  });

  it('never lets a future last-seen raise recency above 1', () => {
    const f = engagementScore({ lastSeenMs: NOW + 60_000, pageViews: 1, scrollMilestones: 0, dwellMs: 0 }, NOW);
    expect(f.ageDays).toBe(0);
    expect(f.recency).toBe(1);
  });

  it('missing dwell leaves the dwell factor at 1; no page views and no milestones score 0', () => {
    expect(engagementScore({ lastSeenMs: NOW, pageViews: 1, scrollMilestones: 0, dwellMs: 0 }, NOW).dwell).toBe(1);
    expect(engagementScore({ lastSeenMs: NOW, pageViews: 0, scrollMilestones: 0, dwellMs: 90_000 }, NOW).score).toBe(0);
  });

  it('grows with depth and dwell, sub-linearly', () => {
    const s = (pv: number, dwellMs = 0) => engagementScore({ lastSeenMs: NOW, pageViews: pv, scrollMilestones: 0, dwellMs }, NOW).score;
    expect(s(2)).toBeGreaterThan(s(1));
    expect(s(2) - s(1)).toBeGreaterThan(s(11) - s(10));
    expect(s(1, 120_000)).toBeGreaterThan(s(1, 60_000));
  });

  it('takes the half-life from the account and the rest from the defaults', () => {
    const account = zAccount.parse({ id: 'acme', engagement: { halfLifeDays: 3 } });
    expect(engagementParams(account)).toEqual({ halfLifeDays: 3, milestoneWeight: 0.25, dwellUnitSeconds: 60 });
    expect(engagementParams(zAccount.parse({ id: 'beta' })).halfLifeDays).toBe(7);
  });

  it('names the view parameters as the view declares them', () => {
    expect(engagementViewParams({ halfLifeDays: 3, milestoneWeight: 0.25, dwellUnitSeconds: 60 }, 1234.9)).toEqual({
      at_ms: 1234,
      half_life_days: 3,
      milestone_weight: 0.25,
      dwell_unit_s: 60,
    });
  });
});
