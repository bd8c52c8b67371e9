import { Cluster, Redis } from 'ioredis';

export interface QueueConnectionOptions {
  url?: string;
  clusterNodes?: string[];
  /** Shown in CLIENT LIST. */
  name: string;
}

/**
 * An ioredis connection for BullMQ. BullMQ needs connections of its own (not the service's,
 * which define scripts and pipeline automatically) with `maxRetriesPerRequest: null`, so a
 * blocked worker waits through a Redis restart instead of failing its job.
 */
export function createQueueConnection(opts: QueueConnectionOptions): Redis | Cluster {
  if (opts.clusterNodes?.length) {
    return new Cluster(
      opts.clusterNodes.map((n) => {
        const [host, port] = n.split(':');
        return { host: host!, port: Number(port) };
      }),
      { redisOptions: { maxRetriesPerRequest: null, connectionName: opts.name } },
    );
  }
  if (!opts.url) throw new Error('createQueueConnection needs a url or cluster nodes');
  return new Redis(opts.url, { maxRetriesPerRequest: null, connectionName: opts.name });
}
