import type { Viewer } from '../access/index.js';

/**
 * A piece of equipment's preventive-maintenance task due first (active plans), as the maintenance
 * feature computes it. The calibration feature lists it beside the calibration on the due-list;
 * the maintenance feature provides it (server.ts wires it), so calibration never imports it.
 */
export interface NextPm {
  planId: string;
  task: string;
  nextDue: string;
  /** From the as-of date to next due: negative when overdue. */
  daysUntilDue: number;
  status: 'current' | 'due-soon' | 'overdue';
}

/** Who reads: the site scope and export control of the equipment apply in the query. */
export type PmReader = Pick<Viewer, 'tenantId' | 'sites' | 'cleared'>;

/** The maintenance feature, as the due-list and the reminders read it. */
export interface PreventiveTasks {
  /**
   * The task due first of each piece of equipment `v` may see, as of the end of `asOf` (a date in
   * the sites' calendars) or, absent, of its own site's local day (by tag).
   */
  nextPmByTag(v: PmReader, asOf?: string): Promise<Map<string, NextPm & { siteId: string }>>;
}
