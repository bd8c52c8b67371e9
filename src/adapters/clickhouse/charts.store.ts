/**
 * The series behind the operator page's charts: traffic and CTR per hour or day, top pages, and
 * the per-minute concurrency samples. One named query each (`clickhouse/queries/`), scoped by
 * the account of the caller's admin key, values as query parameters only.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { ChartBucket } from '../../domain/charts.schema.js';
import { chTime } from '../../domain/stored-event.js';
import { iso } from './analytics.store.js';
import { runQuery } from './queries.js';

export interface TrafficPoint {
  /** Bucket start, epoch ms. */
  t: number;
  pageViews: number;
  visitors: number;
}

export interface CtrPoint {
  t: number;
  impressions: number;
  clicks: number;
  /** clicks / impressions, null in a bucket without impressions. */
  ctr: number | null;
}

export interface TopPage {
  path: string;
  title: string;
  pageViews: number;
  visitors: number;
}

export interface OnlinePoint {
  /** Sample minute, epoch ms. */
  t: number;
  online: number;
  authenticated: number;
  anonymous: number;
  /** Highest online count since the previous sample. */
  peak: number;
}

export interface Series<P> {
  from: string;
  to: string;
  points: P[];
}

export interface BucketedSeries<P> extends Series<P> {
  bucket: ChartBucket;
  tz: string;
}

interface Window {
  from: number;
  to: number;
}

export class ChartsStore {
  constructor(private readonly ch: ClickHouseClient) {}

  async traffic(account: string, q: Window & { bucket: ChartBucket; tz: string }): Promise<BucketedSeries<TrafficPoint>> {
    const points = await runQuery<TrafficPoint>(this.ch, 'traffic-series', { account, from: chTime(q.from), to: chTime(q.to), bucket: q.bucket, tz: q.tz });
    return { from: iso(q.from), to: iso(q.to), bucket: q.bucket, tz: q.tz, points };
  }

  async ctr(account: string, q: Window & { bucket: ChartBucket; tz: string }): Promise<BucketedSeries<CtrPoint>> {
    const points = await runQuery<CtrPoint>(this.ch, 'ctr-series', { account, from: chTime(q.from), to: chTime(q.to), bucket: q.bucket, tz: q.tz });
    return { from: iso(q.from), to: iso(q.to), bucket: q.bucket, tz: q.tz, points };
  }

  async topPages(account: string, q: Window & { limit: number }): Promise<{ from: string; to: string; pages: TopPage[] }> {
    const pages = await runQuery<TopPage>(this.ch, 'top-pages', { account, from: chTime(q.from), to: chTime(q.to), limit: q.limit });
    return { from: iso(q.from), to: iso(q.to), pages };
  }

  async online(account: string, q: Window): Promise<Series<OnlinePoint>> {
    const points = await runQuery<OnlinePoint>(this.ch, 'online-series', { account, from: chTime(q.from), to: chTime(q.to) });
    return { from: iso(q.from), to: iso(q.to), points };
  }
}
