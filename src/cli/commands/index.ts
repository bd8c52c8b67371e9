import type { CliCommand } from '../command.js';
import { onlineCommand } from './online.js';
import { liveVisitorsCommand } from './live-visitors.js';
import { erasePersonCommand } from './erase-person.js';
import { backfillFromLogsCommand } from './backfill-from-logs.js';
import { jobStatusCommand } from './job-status.js';
import { recentByPersonCommand } from './recent-by-person.js';
import { recentByPageCommand } from './recent-by-page.js';
import { engagementScoreCommand } from './engagement-score.js';
import { recommendationCtrCommand } from './recommendation-ctr.js';
import { sessionDetailCommand } from './session-detail.js';
import { briefingCommand } from './briefing.js';
import { eventIngestCommand } from './event-ingest.js';
import { recordRecommendationCommand } from './record-recommendation.js';
import { mintTokenCommand } from './mint-token.js';
import { identifyCommand } from './identify.js';

/** Every CLI tool. Each capability adds its commands here (one file per command). */
export const COMMANDS: CliCommand[] = [
  onlineCommand,
  liveVisitorsCommand,
  erasePersonCommand,
  backfillFromLogsCommand,
  jobStatusCommand,
  recentByPersonCommand,
  recentByPageCommand,
  engagementScoreCommand,
  recommendationCtrCommand,
  sessionDetailCommand,
  briefingCommand,
  eventIngestCommand,
  recordRecommendationCommand,
  mintTokenCommand,
  identifyCommand,
];
