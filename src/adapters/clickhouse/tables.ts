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
  presencePeaks: 'presence_peaks',
  presenceSamples: 'presence_samples',
  erasureReceipts: 'erasure_receipts',
} as const;

export type TableName = (typeof TABLES)[keyof typeof TABLES];
