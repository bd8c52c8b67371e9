export { IdentityService, parseBinding, CLAIM_MS, BINDING_TTL_S, type IdentityServiceDeps, type TokenVia } from './identity.service.js';
export { IdentityMergeReporter, type MergeReporterOptions } from './merge-reporter.js';
export { edgeRow, asEdgeRow, chTimeMs, type IdentityEdgeRow, type EdgeSource } from './edge.js';
