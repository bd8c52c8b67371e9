export { IngestPipeline, type AcceptOptions, type IngestOutcome } from './pipeline.js';
export { noIdentity, type IngestAppender, type IngestIdentity, type IngestIpHasher, type IngestPorts, type IngestRequest } from './ports.js';
export { agentFacts } from './attribute.js';
