import type { CliCommand } from '../command.js';

/** Every CLI tool. Each capability adds its commands here (one file per command). */
export const COMMANDS: CliCommand[] = [];
