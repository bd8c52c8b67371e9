/** Every ClickHouse table name, in one place (Grafana and SQL users depend on them). */
export const TABLES = {
  migrations: 'schema_migrations',
  events: 'events',
  pages: 'pages',
  recommendations: 'recommendations',
  identityEdges: 'identity_edges',
  sessions: 'sessions',
  visitorEngagement: 'visitor_engagement',
  recommendationClicks: 'recommendation_clicks',
  pageVisitors: 'page_visitors',
  presencePeaks: 'presence_peaks',
  presenceSamples: 'presence_samples',
  erasureReceipts: 'erasure_receipts',
} as const;

export type TableName = (typeof TABLES)[keyof typeof TABLES];

/**
 * Materialised views (each writes TO its table above) and plain views. Not in TABLES: nothing
 * inserts into them, and they hold no rows (erasure skips them by engine).
 */
export const VIEWS = {
  pagesMv: 'pages_mv',
  sessionsMv: 'sessions_mv',
  visitorEngagementMv: 'visitor_engagement_mv',
  pageVisitorsMv: 'page_visitors_mv',
  recommendationClicksMv: 'recommendation_clicks_mv',
  presencePeaksMv: 'presence_peaks_mv',
  /** Parameterised view: the engagement score (src/domain/engagement.ts). */
  engagementScores: 'engagement_scores',
} as const;

/**
 * Created only when `CLICKHOUSE_CLUSTER` is set (see migrate.ts): a `Distributed` table over the
 * replicated `events` of every shard, for reads and sharded writes across the cluster.
 */
export const CLUSTER_TABLES = {
  eventsDistributed: 'events_distributed',
} as const;
