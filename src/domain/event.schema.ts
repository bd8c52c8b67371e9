import { z } from 'zod';
import { zAccountId, zListingSlug, zRecId, zSegment, zSessionId, zVisitorId } from './ids.js';

export const EVENT_TYPES = ['pageview', 'click', 'scroll', 'heartbeat', 'leave', 'form_submit', 'chat_message', 'download', 'nav', 'custom'] as const;

export type EventType = (typeof EVENT_TYPES)[number];

/** Largest `props` object, serialised. */
export const MAX_PROPS_BYTES = 2048;
export const MAX_EVENTS_PER_REQUEST = 20;

const zText = (max: number) => z.string().max(max);

const zProps = z
  .record(z.string().max(64), z.union([z.string().max(512), z.number(), z.boolean(), z.null()]))
  .refine((p) => Object.keys(p).length <= 32, 'props has more than 32 keys')
  .refine((p) => Buffer.byteLength(JSON.stringify(p)) <= MAX_PROPS_BYTES, `props is larger than ${MAX_PROPS_BYTES} bytes`);

/** One beacon event as the browser (or a server) sends it. Unknown fields are dropped. */
export const zBeaconEvent = z.object({
  account: zAccountId,
  type: z.enum(EVENT_TYPES),
  sessionId: zSessionId,
  visitorId: zVisitorId,
  path: z.string().min(1).max(2048).startsWith('/', 'path must start with /'),
  eventId: z.uuid().optional(),
  ts: z.number().int().nonnegative().optional(),
  url: zText(4096).optional(),
  title: zText(512).optional(),
  referrer: zText(4096).optional(),
  label: zText(128).optional(),
  depth: z.union([z.literal(25), z.literal(50), z.literal(75), z.literal(100)]).optional(),
  dwellMs: z.number().int().min(0).max(86_400_000).optional(),
  listing: zListingSlug.optional(),
  rec: zRecId.optional(),
  /** A visitor trait such as home region, for presence breakdowns. */
  segment: zSegment.optional(),
  props: zProps.optional(),
});

export type BeaconEvent = z.infer<typeof zBeaconEvent>;
